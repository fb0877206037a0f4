import { Link } from 'react-router-dom';
import { useBackendLabel, useLLMStatus } from '../../settings';

/** The active backend's state, said before Generate is pressed. */
export function BackendStatusLine() {
  const status = useLLMStatus().data;
  const backendLabel = useBackendLabel();
  if (!status || status.status === 'not_configured') return null;
  const label = backendLabel(status.backend_type ?? '');
  const model = status.active_model ? ` · ${status.active_model}` : '';
  if (status.status === 'connected') {
    return (
      <p className="muted backend-status" data-testid="backend-status" data-status="connected">
        <span className="status-dot status-ok" aria-hidden="true" /> {label}
        {model} · connected{status.model_state === 'not-loaded' ? ' (the model loads at the first generation)' : ''}
      </p>
    );
  }
  return (
    <p className="notice notice-warning backend-status" role="status" data-testid="backend-status" data-status={status.status}>
      <strong>{label} is not answering.</strong> {status.error ?? ''} {status.hint ?? ''} <Link to="/settings">Check Settings</Link>
    </p>
  );
}
