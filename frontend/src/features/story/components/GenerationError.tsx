import { ApiError } from '../../../lib/api-client';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { BackendMissingNotice } from './BackendMissingNotice';

export function GenerationError({ error }: { error: Error }) {
  if (error instanceof ApiError && error.code === 'backend_not_configured') return <BackendMissingNotice />;
  return (
    <ErrorMessage error={error} title="The story could not be written" testId="story-error" settingsLink />
  );
}
