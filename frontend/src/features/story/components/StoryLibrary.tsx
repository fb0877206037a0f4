import { useRef, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { StorySummary } from '../../../types/api';
import { useDeleteStory } from '../api/delete-story';
import { type LibrarySort, useStories } from '../api/get-stories';
import { forgetLastStory, type StoryOwner, useLastStory } from '../lib/last-story';
import { LibraryItem } from './LibraryItem';
import { LibraryTools } from './LibraryTools';
import { StorageUse } from './StorageUse';

/** The Library page: the user's stories (the open one marked) to search, sort, open, rename and delete; backup and import. */
export function StoryLibrary({ owner }: { owner: StoryOwner | null }) {
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<LibrarySort>('updated');
  const [renaming, setRenaming] = useState<number | null>(null);
  const stories = useStories({ q: search, sort });
  const remove = useDeleteStory();
  const searchRef = useRef<HTMLInputElement>(null);

  const deleteStory = (story: StorySummary) => {
    if (!window.confirm(`Delete “${story.title}”? This cannot be undone.`)) return;
    remove.mutate(story.id, {
      onSuccess: () => {
        if (owner !== null) forgetLastStory(owner, story.id); // the Story link then starts a new story
        searchRef.current?.focus(); // the entry is gone: back to the library
      },
    });
  };

  const openStoryId = useLastStory(owner);
  const list = stories.data?.stories ?? [];
  return (
    <section className="page library-page" aria-labelledby="library-heading" data-testid="story-library">
      <h1 id="library-heading">Library</h1>
      <LibraryTools search={search} onSearch={setSearch} sort={sort} onSort={setSort} searchRef={searchRef} />
      <StorageUse />
      {stories.isPending && <p role="status">Loading your stories…</p>}
      {stories.error && !stories.data && (
        <ErrorMessage error={stories.error} title="Could not load your stories" onRetry={() => void stories.refetch()} />
      )}
      {remove.error && <ErrorMessage error={remove.error} title="Could not delete the story" />}
      {stories.data && list.length === 0 && (
        <p className="muted" data-testid="library-empty">
          {search.trim() ? `No story contains “${search.trim()}”.` : 'No stories yet. Press New story to start one: each story is saved as you go.'}
        </p>
      )}
      {list.length > 0 && (
        <ul className="library-list card">
          {list.map((story) => (
            <LibraryItem
              key={story.id}
              story={story}
              isOpen={story.id === openStoryId}
              renaming={renaming === story.id}
              onRename={(on) => setRenaming(on ? story.id : null)}
              deleting={remove.isPending && remove.variables === story.id}
              onDelete={() => deleteStory(story)}
            />
          ))}
        </ul>
      )}
    </section>
  );
}
