import { ErrorMessage } from '../../../components/ErrorMessage';
import { formatDateTime, formatDuration } from '../../../lib/format';
import type { BackendDescriptor, ConnectionStatus, LLMStatus, ModelState } from '../../../types/api';
import { backendLabel, useLLMStatus } from '../api/llmBackend';

const CONNECTION_WORDS: Record<ConnectionStatus, string> = {
  connected: 'Connected',
  disconnected: 'Disconnected',
  error: 'Error',
  not_configured: 'Not configured',
};

const MODEL_STATE_WORDS: Record<ModelState, string> = {
  loaded: 'Loaded',
  loading: 'Loading',
  'not-loaded': 'Not loaded',
};

function lastTest(status: LLMStatus): string {
  if (!status.last_tested_at) return 'Never';
  const outcome = status.last_test_status === 'connected' ? 'passed' : 'failed';
  return `${formatDateTime(status.last_tested_at)} (${outcome})`;
}

/** The active backend as the server sees it now; refreshed every few seconds while the tab is visible. */
export function StatusDashboard({ backends }: { backends: BackendDescriptor[] }) {
  const { data: status, error, isPending, refetch } = useLLMStatus();

  return (
    <section className="card" aria-labelledby="status-heading" data-testid="status-dashboard">
      <h2 id="status-heading">Status</h2>
      {isPending && <p role="status">Checking the backend…</p>}
      {error && !status && <ErrorMessage error={error} title="Status unavailable" onRetry={() => void refetch()} />}
      {status && (
        <>
          <dl className="status-grid">
            <div>
              <dt>Backend</dt>
              <dd data-testid="status-backend">{status.backend_type ? backendLabel(backends, status.backend_type) : 'None'}</dd>
            </div>
            <div>
              <dt>Connection</dt>
              <dd data-testid="status-connection">
                <span className={`badge badge-${status.status.replace('_', '-')}`}>{CONNECTION_WORDS[status.status]}</span>
                {status.status === 'connected' && status.latency_ms !== null && <span className="muted"> {formatDuration(status.latency_ms)}</span>}
              </dd>
            </div>
            <div>
              <dt>Active model</dt>
              <dd data-testid="status-model">{status.active_model ?? 'None chosen'}</dd>
            </div>
            <div>
              <dt>Model state</dt>
              <dd data-testid="status-model-state">{status.model_state ? MODEL_STATE_WORDS[status.model_state] : 'Unknown'}</dd>
            </div>
            <div>
              <dt>Last test</dt>
              <dd data-testid="status-last-test">{lastTest(status)}</dd>
            </div>
          </dl>
          {status.error && (
            <div className="notice notice-error" data-testid="status-error">
              <p>{status.error}</p>
              {status.hint && <p className="notice-hint">{status.hint}</p>}
            </div>
          )}
          {error && (
            <p className="muted" role="status">
              Could not refresh the status: {error.message}
            </p>
          )}
        </>
      )}
    </section>
  );
}
