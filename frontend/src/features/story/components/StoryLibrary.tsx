import { useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type ChangeEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { formatDateTime } from '../../../lib/format';
import { useDeleteStory } from '../api/delete-story';
import { storiesQueryOptions, type LibrarySort, useStories } from '../api/get-stories';
import { storyQueryOptions } from '../api/get-story';
import { downloadBackup, importLibrary } from '../api/studio';
import { updateStory } from '../api/update-story';
import type { LibraryBackup, StorySummary } from '../../../types/api';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { StorageUse } from './StorageUse';

const SORT_LABELS: Record<LibrarySort, string> = { updated: 'Last edited', created: 'Newest first', title: 'Title' };

/** One library entry's title, renamed in place. */
function RenameForm({ story, onDone }: { story: StorySummary; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [title, setTitle] = useState(story.title);
  const [error, setError] = useState<Error | null>(null);
  const save = async () => {
    if (!title.trim() || title.trim() === story.title) return onDone();
    try {
      await updateStory(story.id, { base_revision: story.revision, title: title.trim() });
      await queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
      await queryClient.invalidateQueries({ queryKey: storyQueryOptions(story.id).queryKey });
      onDone();
    } catch (problem) {
      setError(problem instanceof Error ? problem : new Error(String(problem)));
    }
  };
  return (
    <form
      className="rename-form"
      onSubmit={(event) => {
        event.preventDefault();
        void save();
      }}
    >
      <label htmlFor={`rename-${story.id}`} className="visually-hidden">
        New title of “{story.title}”
      </label>
      <input
        id={`rename-${story.id}`}
        value={title}
        onChange={(event) => setTitle(event.target.value)}
        onKeyDown={(event) => event.key === 'Escape' && onDone()}
        autoFocus
        data-testid="library-rename-input"
      />
      <button type="submit" data-testid="library-rename-save">
        Save
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
      {error && <ErrorMessage error={error} title="Could not rename the story" />}
    </form>
  );
}

/** The user's stories: search, sort, open, rename, delete after a confirmation; backup and import. */
export function StoryLibrary({ openStoryId }: { openStoryId: number | null }) {
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<LibrarySort>('updated');
  const [renaming, setRenaming] = useState<number | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [problem, setProblem] = useState<Error | null>(null);
  const stories = useStories({ q: search, sort });
  const remove = useDeleteStory();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const searchRef = useRef<HTMLInputElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);

  const deleteStory = (story: StorySummary) => {
    if (!window.confirm(`Delete “${story.title}”? This cannot be undone.`)) return;
    remove.mutate(story.id, {
      onSuccess: () => {
        if (story.id === openStoryId) navigate('/', { replace: true });
        searchRef.current?.focus(); // the entry is gone: back to the library
      },
    });
  };

  // The open story is renamed in its own title field, where its document is saved from.
  const rename = (story: StorySummary) => {
    const field = story.id === openStoryId ? document.getElementById('story-title') : null;
    if (field instanceof HTMLInputElement) {
      field.focus();
      field.select();
    } else setRenaming(story.id);
  };

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

  const list = stories.data?.stories ?? [];
  return (
    <section className="card" aria-labelledby="library-heading" data-testid="story-library">
      <div className="library-bar">
        <h2 id="library-heading">Library</h2>
        <Link className="link-as-button" to="/" data-testid="new-story-link">
          New story
        </Link>
      </div>
      <div className="library-tools">
        <label htmlFor="library-search" className="visually-hidden">
          Search stories
        </label>
        <input
          id="library-search"
          ref={searchRef}
          type="search"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          placeholder="Search titles, premises and text"
          data-testid="library-search"
        />
        <label htmlFor="library-sort">Sort</label>
        <select id="library-sort" value={sort} onChange={(event) => setSort(event.target.value as LibrarySort)} data-testid="library-sort">
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
      <StorageUse />
      {note && (
        <p className="muted" role="status" data-testid="library-note">
          {note}
        </p>
      )}
      {problem && <ErrorMessage error={problem} title="That did not work" />}
      {stories.isPending && <p role="status">Loading your stories…</p>}
      {stories.error && !stories.data && (
        <ErrorMessage error={stories.error} title="Could not load your stories" onRetry={() => void stories.refetch()} />
      )}
      {remove.error && <ErrorMessage error={remove.error} title="Could not delete the story" />}
      {stories.data && list.length === 0 && (
        <p className="muted" data-testid="library-empty">
          {search.trim() ? `No story contains “${search.trim()}”.` : 'No stories yet. Start writing above: each story is saved as you go.'}
        </p>
      )}
      {list.length > 0 && (
        <ul className="library-list">
          {list.map((story) => {
            const deleting = remove.isPending && remove.variables === story.id;
            return (
              <li key={story.id} className="library-item" data-testid="library-item" aria-current={story.id === openStoryId || undefined}>
                <div className="library-item-text">
                  {renaming === story.id ? <RenameForm story={story} onDone={() => setRenaming(null)} /> : <h3>{story.title}</h3>}
                  <p className="muted">
                    Edited {formatDateTime(story.updated_at)} · {story.word_count} words
                    {story.genre && ` · ${story.genre}`}
                    {story.generation_status === 'running' && ' · being written…'}
                  </p>
                  {story.premise && <p className="excerpt">{story.premise}</p>}
                </div>
                <div className="library-item-actions">
                  <Link
                    className="link-as-button"
                    to={`/story/${story.id}`}
                    aria-label={`Open “${story.title}”`}
                    data-testid="library-open-button"
                  >
                    Open
                  </Link>
                  <button type="button" onClick={() => rename(story)} aria-label={`Rename “${story.title}”`} data-testid="library-rename-button">
                    Rename
                  </button>
                  <button
                    type="button"
                    className="button-danger"
                    onClick={() => deleteStory(story)}
                    disabled={deleting}
                    aria-label={`Delete “${story.title}”`}
                    data-testid="library-delete-button"
                  >
                    {deleting ? 'Deleting…' : 'Delete'}
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
