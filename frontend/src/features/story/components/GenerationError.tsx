import { ApiError } from '../../../lib/api-client';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { BackendMissingNotice } from './BackendMissingNotice';

/** A generation that could not start or broke off: the cause, what is kept, and the next step fitted to it. */
export function GenerationError({ error, kept }: { error: Error; kept?: string }) {
  if (error instanceof ApiError && error.code === 'backend_not_configured') return <BackendMissingNotice />;
  return (
    <ErrorMessage error={error} title="The story could not be written" testId="story-error" settingsLink>
      {kept && <p>{kept}</p>}
    </ErrorMessage>
  );
}
