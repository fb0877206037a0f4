import { Link, useNavigate } from 'react-router-dom';
import { formatDateTime } from '../../../lib/format';
import { useDeleteStory } from '../api/delete-story';
import { useStories } from '../api/get-stories';
import type { StorySummary } from '../../../types/api';
import { ErrorMessage } from '../../../components/ErrorMessage';

/** The user's stories, most recently edited first: open one to go on with it, or delete it after a confirmation. */
export function StoryLibrary({ openStoryId }: { openStoryId: number | null }) {
  const stories = useStories();
  const remove = useDeleteStory();
  const navigate = useNavigate();

  const deleteStory = (story: StorySummary) => {
    if (!window.confirm(`Delete “${story.title}”? This cannot be undone.`)) return;
    remove.mutate(story.id, {
      onSuccess: () => {
        if (story.id === openStoryId) navigate('/', { replace: true });
      },
    });
  };

  return (
    <section className="card" aria-labelledby="library-heading" data-testid="story-library">
      <div className="library-bar">
        <h2 id="library-heading">Library</h2>
        <Link className="link-as-button" to="/" data-testid="new-story-link">
          New story
        </Link>
      </div>
      {stories.isPending && <p role="status">Loading your stories…</p>}
      {stories.error && !stories.data && (
        <ErrorMessage error={stories.error} title="Could not load your stories" onRetry={() => void stories.refetch()} />
      )}
      {remove.error && <ErrorMessage error={remove.error} title="Could not delete the story" />}
      {stories.data?.stories.length === 0 && <p className="muted">No stories yet. Start writing above: each story is saved as you go.</p>}
      {stories.data && stories.data.stories.length > 0 && (
        <ul className="library-list">
          {stories.data.stories.map((story) => {
            const deleting = remove.isPending && remove.variables === story.id;
            return (
              <li key={story.id} className="library-item" data-testid="library-item" aria-current={story.id === openStoryId || undefined}>
                <div className="library-item-text">
                  <h3>{story.title}</h3>
                  <p className="muted">
                    Edited {formatDateTime(story.updated_at)} · {story.word_count} words
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
