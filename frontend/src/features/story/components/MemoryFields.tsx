import { approximateTokens } from '../lib/generationSettings';

interface MemoryFieldsProps {
  memory: string;
  authorsNote: string;
  onChange: (changes: { memory?: string; authors_note?: string }) => void;
}

/** What every generation of this story is told: memory (always true) and the author's note (where it goes). */
export function MemoryFields({ memory, authorsNote, onChange }: MemoryFieldsProps) {
  return (
    <details className="studio-memory" open={Boolean(memory || authorsNote)} data-testid="memory-fields">
      <summary>Memory and author's note</summary>
      <div className="field">
        <label htmlFor="story-memory">
          Memory <span className="muted" data-testid="memory-tokens">≈ {approximateTokens(memory)} tokens</span>
        </label>
        <textarea
          id="story-memory"
          rows={3}
          value={memory}
          onChange={(event) => onChange({ memory: event.target.value })}
          placeholder="Characters, setting, style: what is always true in this story. Sent with every generation."
          data-testid="story-memory"
        />
      </div>
      <div className="field">
        <label htmlFor="story-authors-note">
          Author's note <span className="muted" data-testid="authors-note-tokens">≈ {approximateTokens(authorsNote)} tokens</span>
        </label>
        <textarea
          id="story-authors-note"
          rows={2}
          value={authorsNote}
          onChange={(event) => onChange({ authors_note: event.target.value })}
          placeholder="Where the story is going next. Sent with every generation."
          data-testid="story-authors-note"
        />
      </div>
    </details>
  );
}
