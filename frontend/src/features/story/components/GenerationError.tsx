import { Link } from 'react-router-dom';
import { ApiError } from '../../../lib/api-client';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { BackendMissingNotice } from './BackendMissingNotice';

/** A generation that could not start or broke off: the server's words, what is kept, and where to look. */
export function GenerationError({ error, kept }: { error: Error; kept?: string }) {
  if (error instanceof ApiError && error.code === 'backend_not_configured') return <BackendMissingNotice />;
  return (
    <ErrorMessage error={error} title="The story could not be written" testId="story-error">
      {kept && <p>{kept}</p>}
      <p>
        <Link to="/settings">Check the connection in Settings</Link>, then try again.
      </p>
    </ErrorMessage>
  );
}
