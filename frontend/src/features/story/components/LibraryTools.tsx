import type { RefObject } from 'react';
import type { LibrarySort } from '../api/get-stories';
import { LibraryBackup } from './LibraryBackup';

const SORT_LABELS: Record<LibrarySort, string> = { updated: 'Last edited', created: 'Newest first', title: 'Title' };

interface LibraryToolsProps {
  search: string;
  onSearch: (search: string) => void;
  sort: LibrarySort;
  onSort: (sort: LibrarySort) => void;
  searchRef: RefObject<HTMLInputElement | null>;
}

/** Search and sort the library; back it up, or import a backup. */
export function LibraryTools({ search, onSearch, sort, onSort, searchRef }: LibraryToolsProps) {
  return (
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
      <LibraryBackup />
    </div>
  );
}
