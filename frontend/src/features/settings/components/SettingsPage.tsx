import { ErrorMessage } from '../../../components/ErrorMessage';
import { LLMSettingsForm } from './LLMSettingsForm';
import { StatusDashboard } from './StatusDashboard';
import { useLLMSettings } from '../api/get-llm-settings';

export function SettingsPage() {
  const settings = useLLMSettings();
  return (
    <div className="page">
      <h1>Settings</h1>
      <StatusDashboard />
      {settings.isPending && (
        <p className="card" role="status">
          Loading settings…
        </p>
      )}
      {settings.isError && !settings.data && (
        <ErrorMessage error={settings.error} title="Could not load the settings" onRetry={() => void settings.refetch()} />
      )}
      {settings.data && <LLMSettingsForm settings={settings.data} />}
    </div>
  );
}
