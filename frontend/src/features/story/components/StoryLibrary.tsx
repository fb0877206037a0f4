import { useState } from 'react';
import { formatDateTime } from '../../../lib/format';
import { useDeleteStory } from '../api/delete-story';
import { useStories } from '../api/get-stories';
import type { StorySummary } from '../../../types/api';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { StoryReader } from './StoryReader';

/** The user's saved stories: open one to read it, or delete it after a confirmation. */
export function StoryLibrary() {
  const stories = useStories();
  const remove = useDeleteStory();
  const [openId, setOpenId] = useState<number | null>(null);

  const deleteStory = (story: StorySummary) => {
    if (!window.confirm(`Delete “${story.title}”? This cannot be undone.`)) return;
    remove.mutate(story.id, { onSuccess: () => setOpenId((current) => (current === story.id ? null : current)) });
  };

  return (
    <section className="card" aria-labelledby="library-heading" data-testid="story-library">
      <h2 id="library-heading">Library</h2>
      {openId !== null && <StoryReader id={openId} onClose={() => setOpenId(null)} />}
      {stories.isPending && <p role="status">Loading your stories…</p>}
      {stories.error && !stories.data && (
        <ErrorMessage error={stories.error} title="Could not load your stories" onRetry={() => void stories.refetch()} />
      )}
      {remove.error && <ErrorMessage error={remove.error} title="Could not delete the story" />}
      {stories.data?.stories.length === 0 && <p className="muted">No saved stories yet. Write one and press “Save to library”.</p>}
      {stories.data && stories.data.stories.length > 0 && (
        <ul className="library-list">
          {stories.data.stories.map((story) => {
            const deleting = remove.isPending && remove.variables === story.id;
            return (
              <li key={story.id} className="library-item" data-testid="library-item">
                <div className="library-item-text">
                  <h3>{story.title}</h3>
                  <p className="muted">{formatDateTime(story.created_at)}</p>
                  <p className="excerpt">{story.excerpt}</p>
                </div>
                <div className="library-item-actions">
                  <button
                    type="button"
                    className="button-secondary"
                    onClick={() => setOpenId(story.id)}
                    aria-label={`Open “${story.title}”`}
                    data-testid="library-open-button"
                  >
                    Open
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
