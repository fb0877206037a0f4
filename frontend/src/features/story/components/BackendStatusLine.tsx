import { Link } from 'react-router-dom';
import { BACKEND_LABELS, isBackendType } from '../../../lib/backends';
import type { LLMStatus } from '../../../types/api';

/** The active backend's state, said before Generate is pressed. */
export function BackendStatusLine({ status }: { status: LLMStatus | undefined }) {
  if (!status || status.status === 'not_configured') return null;
  const label = isBackendType(status.backend_type) ? BACKEND_LABELS[status.backend_type] : status.backend_type;
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
