import { backendLabel } from '../../../lib/backends';
import { formatDateTime } from '../../../lib/format';
import { useStory } from '../api/get-story';
import { ErrorMessage } from '../../../components/ErrorMessage';

/** One saved story, read in full. */
export function StoryReader({ id, onClose }: { id: number; onClose: () => void }) {
  const { data: story, error, isPending, refetch } = useStory(id);
  return (
    <article className="story-reader" data-testid="story-reader" aria-busy={isPending}>
      <div className="story-reader-bar">
        <h3>{story?.title ?? 'Opening story…'}</h3>
        <button type="button" className="button-secondary" onClick={onClose} data-testid="story-reader-close">
          Close
        </button>
      </div>
      {error && <ErrorMessage error={error} title="Could not open the story" onRetry={() => void refetch()} />}
      {story && (
        <>
          <p className="muted">
            {formatDateTime(story.created_at)}
            {story.backend_type && ` · ${backendLabel(story.backend_type)}`}
            {story.model && ` · ${story.model}`}
          </p>
          <p className="muted">Premise: {story.prompt}</p>
          <div className="story-text">{story.content}</div>
        </>
      )}
    </article>
  );
}
