import { useQueryClient } from '@tanstack/react-query';
import { type ChangeEvent, type RefObject, useRef, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { LibraryBackup } from '../../../types/api';
import { type LibrarySort, storiesQueryOptions } from '../api/get-stories';
import { downloadBackup, importLibrary } from '../api/studio';

const SORT_LABELS: Record<LibrarySort, string> = { updated: 'Last edited', created: 'Newest first', title: 'Title' };

interface LibraryToolsProps {
  search: string;
  onSearch: (search: string) => void;
  sort: LibrarySort;
  onSort: (sort: LibrarySort) => void;
  searchRef: RefObject<HTMLInputElement | null>;
}

/** Search and sort the library; back it up as one file, or import such a file as new stories. */
export function LibraryTools({ search, onSearch, sort, onSort, searchRef }: LibraryToolsProps) {
  const [note, setNote] = useState<string | null>(null);
  const [problem, setProblem] = useState<Error | null>(null);
  const queryClient = useQueryClient();
  const fileRef = useRef<HTMLInputElement>(null);

  const importFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    setProblem(null);
    setNote(null);
    try {
      let backup: LibraryBackup;
      try {
        backup = JSON.parse(await file.text()) as LibraryBackup;
      } catch {
        throw new Error(`${file.name} is not a Taleweaver backup (it is not JSON).`);
      }
      const result = await importLibrary(backup);
      await queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
      setNote(`Imported ${result.imported} ${result.imported === 1 ? 'story' : 'stories'} as new stories.`);
    } catch (error) {
      setProblem(error instanceof Error ? error : new Error(String(error)));
    }
  };

  return (
    <>
      <div className="library-tools">
        <label htmlFor="library-search" className="visually-hidden">
          Search stories
        </label>
        <input
          id="library-search"
          ref={searchRef}
          type="search"
          value={search}
          onChange={(event) => onSearch(event.target.value)}
          placeholder="Search titles, premises and text"
          data-testid="library-search"
        />
        <label htmlFor="library-sort">Sort</label>
        <select id="library-sort" value={sort} onChange={(event) => onSort(event.target.value as LibrarySort)} data-testid="library-sort">
          {Object.entries(SORT_LABELS).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => void downloadBackup().catch(setProblem)} data-testid="library-backup">
          Back up library
        </button>
        <button type="button" onClick={() => fileRef.current?.click()} data-testid="library-import">
          Import backup
        </button>
        <input ref={fileRef} type="file" accept="application/json,.json" hidden onChange={(event) => void importFile(event)} data-testid="library-import-file" />
      </div>
      {note && (
        <p className="muted" role="status" data-testid="library-note">
          {note}
        </p>
      )}
      {problem && <ErrorMessage error={problem} title="That did not work" />}
    </>
  );
}
