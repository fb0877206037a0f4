import { ErrorMessage } from '../components/ErrorMessage';
import { LLMSettingsForm } from '../components/settings/LLMSettingsForm';
import { StatusDashboard } from '../components/settings/StatusDashboard';
import { useLLMSettings } from '../services/settings';

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
