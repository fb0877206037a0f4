import { GenerationError } from './GenerationError';
import type { GenerationView } from '../hooks/useStoryGeneration';
import type { Generation } from '../../../types/api';
import { ApiError } from '../../../lib/api-client';

/** How the last generation ended, told so the user knows the text is kept and what to do next. */
export function GenerationNotice({ generation, lastOnServer }: { generation: GenerationView; lastOnServer: Generation | null }) {
  if (generation.phase === 'reconnecting') {
    return (
      <p className="notice" role="status" data-testid="story-reconnecting">
        The connection to the server broke off. The story goes on being written there; reconnecting…
      </p>
    );
  }
  if (generation.phase !== 'idle') return null;
  if (generation.error) return <GenerationError error={generation.error} />;
  const status = generation.end?.status ?? lastOnServer?.status;
  const error =
    generation.end?.error ??
    (lastOnServer?.error
      ? new ApiError(502, lastOnServer.error.code ?? 'backend_error', lastOnServer.error.message ?? 'The model stopped with an error.', {
          hint: lastOnServer.error.hint,
        })
      : null);
  if (status === 'stopped') {
    return (
      <p className="muted" role="status" data-testid="story-stopped">
        Stopped. The text so far is kept.
      </p>
    );
  }
  if (status === 'interrupted') {
    return (
      <div className="notice notice-warning" role="status" data-testid="story-interrupted">
        <p>
          <strong>The server stopped while this story was being written.</strong> The text written up to that moment is kept.
          You can edit it, or press Continue to go on from where it broke off.
        </p>
      </div>
    );
  }
  if (status === 'failed') {
    return (
      <GenerationError
        error={error ?? new Error('The model stopped with an error.')}
        kept="The text written before the failure is kept."
      />
    );
  }
  return null;
}
