import { backendLabel } from '../../../lib/backends';
import { formatDuration } from '../../../lib/format';
import type { DiagnosisStep, TestConnectionResult } from '../../../types/api';

/** "Disconnected" when nothing answered; "Error" when something answered but the test still failed. */
function statusWord(result: TestConnectionResult): 'Connected' | 'Disconnected' | 'Error' {
  if (result.status === 'connected') return 'Connected';
  return result.error_code === 'backend_unreachable' || result.error_code === 'backend_timeout' ? 'Disconnected' : 'Error';
}

const STEP_WORDS: Record<DiagnosisStep['status'], string> = { ok: 'OK', failed: 'Failed', skipped: 'Skipped' };

function modelCount(count: number): string {
  return count === 1 ? '1 model' : `${count} models`;
}

export function ConnectionTestResult({ result }: { result: TestConnectionResult }) {
  const word = statusWord(result);
  const version = result.server_info?.version;
  return (
    <div className="test-result" data-testid="test-result">
      <p className="test-summary">
        <span className={`badge badge-${word.toLowerCase()}`} data-testid="test-status">
          {word}
        </span>{' '}
        {backendLabel(result.backend_type)}
        {result.latency_ms !== null && <> · {formatDuration(result.latency_ms)}</>}
        {result.status === 'connected' && <> · {modelCount(result.models.length)}</>}
        {version && <> · version {version}</>}
      </p>
      {result.resolved_url && (
        <p className="notice-hint">
          Answered at {result.resolved_url} (the Windows host seen from WSL), not at the address you entered.
        </p>
      )}
      {result.error && (
        <p className="test-error" data-testid="test-error">
          {result.error}
        </p>
      )}
      {result.hint && (
        <p className="notice-hint" data-testid="test-hint">
          {result.hint}
        </p>
      )}
      {result.steps.length > 0 && (
        <ol className="steps" aria-label="Diagnosis steps" data-testid="test-steps">
          {result.steps.map((step) => (
            <li key={step.name} className={`step step-${step.status}`}>
              <span className="step-label">{step.label}</span>
              <span className="step-status">{STEP_WORDS[step.status]}</span>
              <span className="step-duration">{step.duration_ms === null ? '' : formatDuration(step.duration_ms)}</span>
              {step.detail && <span className="step-detail">{step.detail}</span>}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
