import { BACKEND_LABELS } from '../../../lib/backends';
import { storyTitle } from '../lib/storyPrompt';
import { useCreateStory } from '../api/create-story';
import type { BackendType } from '../../../types/LLMTypes';
import { ErrorMessage } from '../../../components/ErrorMessage';

export interface StoryAuthor {
  backendType: BackendType | null;
  model: string | null;
}

interface StoryOutputProps {
  text: string;
  premise: string;
  author: StoryAuthor;
  isWriting: boolean;
  stopped: boolean;
}

function authorLine({ backendType, model }: StoryAuthor): string {
  const parts = [backendType && BACKEND_LABELS[backendType], model].filter(Boolean);
  return parts.length ? parts.join(' · ') : 'the configured backend';
}

/** The story as it streams in, who is writing it, and saving it to the library once it stops. */
export function StoryOutput({ text, premise, author, isWriting, stopped }: StoryOutputProps) {
  const save = useCreateStory();
  const title = storyTitle(text, premise);

  const saveStory = () =>
    save.mutate({
      title,
      prompt: premise,
      content: text,
      ...(author.backendType ? { backend_type: author.backendType } : {}),
      ...(author.model ? { model: author.model } : {}),
    });

  return (
    <section className="card story-output" aria-labelledby="story-output-heading" aria-busy={isWriting}>
      <h2 id="story-output-heading">Your story</h2>
      <p className="muted" data-testid="story-origin">
        {isWriting ? 'Writing with ' : 'Written by '}
        {authorLine(author)}
        {isWriting && '…'}
      </p>
      <div className="story-text" data-testid="story-output">
        {text || (isWriting ? 'Waiting for the first words…' : '')}
      </div>
      {stopped && (
        <p className="muted" role="status" data-testid="story-stopped">
          Stopped. The text so far is kept.
        </p>
      )}
      {!isWriting && text && (
        <div className="actions">
          <button
            type="button"
            className="button-secondary"
            onClick={saveStory}
            disabled={save.isPending || save.isSuccess}
            data-testid="save-story-button"
          >
            {save.isPending ? 'Saving…' : save.isSuccess ? 'Saved' : 'Save to library'}
          </button>
        </div>
      )}
      {save.isSuccess && (
        <p className="notice notice-success" role="status" data-testid="story-save-result">
          Saved to your library as “{save.data.title}”.
        </p>
      )}
      {save.error && <ErrorMessage error={save.error} title="Not saved" testId="story-save-result" />}
    </section>
  );
}
