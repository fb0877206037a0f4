import { type ChangeEvent, useRef, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { ContextBudget } from '../../../types/api';
import { type Book, exportLorebook, importLorebook, newEntry, readLorebook, withLorebook } from '../lib/lorebook';
import { LOREBOOK_LIMITS } from '../lib/lorebookLimits';
import { saveTextFile } from '../lib/save-file';
import { LorebookEntryFields } from './LorebookEntryFields';

interface LorebookSectionProps {
  /** The story's settings as their JSON text (the lorebook is kept in them). */
  settings: string;
  onChange: (settings: string) => void;
  budget: ContextBudget | undefined;
}

function wholeNumber(value: string, fallback: number): number {
  const parsed = Number.parseInt(value, 10);
  return Number.isFinite(parsed) && parsed >= 0 ? parsed : fallback;
}

/** The story's lorebook: entries sent when their keys appear in the recent text, within a token budget. */
export function LorebookSection({ settings, onChange, budget }: LorebookSectionProps) {
  const book = readLorebook(settings);
  const [notes, setNotes] = useState<string[]>([]);
  const [problem, setProblem] = useState<Error | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const save = (next: Book) => onChange(withLorebook(settings, next));
  const setEntries = (entries: Book['entries']) => save({ ...book, entries });

  const importFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    setProblem(null);
    try {
      const imported = importLorebook(await file.text());
      save(imported.value);
      setNotes([`Imported ${imported.value.entries.length} entries from ${file.name}.`, ...imported.notes]);
    } catch (error) {
      setNotes([]);
      setProblem(error instanceof Error ? error : new Error(String(error)));
    }
  };

  return (
    <details className="studio-lorebook" open={book.entries.length > 0} data-testid="lorebook">
      <summary>Lorebook ({book.entries.length})</summary>
      <p className="muted field-note">
        An entry is sent after the memory when one of its keys appears in the last {book.scan_depth.toLocaleString()} characters of the story or in the
        author's note; the entries sent share {book.token_budget.toLocaleString()} tokens.
      </p>
      <div className="field-row">
        <div className="field">
          <label htmlFor="lorebook-scan-depth">Scan depth (characters)</label>
          <input id="lorebook-scan-depth" type="number" min={0} max={500_000} value={book.scan_depth} onChange={(event) => save({ ...book, scan_depth: wholeNumber(event.target.value, book.scan_depth) })} />
        </div>
        <div className="field">
          <label htmlFor="lorebook-token-budget">Lorebook budget (tokens)</label>
          <input id="lorebook-token-budget" type="number" min={0} max={1_000_000} value={book.token_budget} onChange={(event) => save({ ...book, token_budget: wholeNumber(event.target.value, book.token_budget) })} />
        </div>
      </div>
      {book.entries.map((entry, index) => (
        <LorebookEntryFields
          key={index}
          entry={entry}
          index={index}
          onChange={(changed) => setEntries(book.entries.map((old, at) => (at === index ? changed : old)))}
          onDelete={() => setEntries(book.entries.filter((_, at) => at !== index))}
        />
      ))}
      {budget?.lorebook_unusable_keys.map((key) => (
        <p key={`${key.name}-${key.key}`} className="notice notice-warning" role="status">
          The key “{key.key}” of {key.name || 'an entry'} is not a regular expression the server can run ({key.reason}); it matches nothing until it is fixed.
        </p>
      ))}
      <div className="button-row">
        <button type="button" onClick={() => setEntries([...book.entries, newEntry()])} disabled={book.entries.length >= LOREBOOK_LIMITS.entries}>
          Add entry
        </button>
        <button type="button" onClick={() => fileRef.current?.click()}>
          Import lorebook
        </button>
        <button type="button" onClick={() => saveTextFile(exportLorebook(book), 'lorebook.json')} disabled={book.entries.length === 0}>
          Export lorebook
        </button>
      </div>
      <input ref={fileRef} type="file" accept="application/json,.json" hidden aria-label="Lorebook file" onChange={(event) => void importFile(event)} data-testid="lorebook-file" />
      {notes.length > 0 && (
        <ul className="muted lorebook-notes" role="status" data-testid="lorebook-notes">
          {notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
      {problem && <ErrorMessage error={problem} title="Could not import the lorebook" />}
    </details>
  );
}
