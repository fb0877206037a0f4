import { ErrorMessage } from '../../../components/ErrorMessage';
import { useBackends } from '../api/llmBackend';
import { useLLMSettings } from '../api/settings';
import { LLMSettingsForm } from './LLMSettingsForm';
import { StatusDashboard } from './StatusDashboard';

export function SettingsPage() {
  const settings = useLLMSettings();
  const backends = useBackends();
  const failed = (settings.isError && !settings.data && settings) || (backends.isError && !backends.data && backends);
  return (
    <div className="page">
      <h1>Settings</h1>
      <StatusDashboard backends={backends.data?.backends ?? []} />
      {(settings.isPending || backends.isPending) && !failed && (
        <p className="card" role="status">
          Loading settings…
        </p>
      )}
      {failed && <ErrorMessage error={failed.error} title="Could not load the settings" onRetry={() => void failed.refetch()} />}
      {settings.data && backends.data && <LLMSettingsForm settings={settings.data} backends={backends.data.backends} />}
    </div>
  );
}
