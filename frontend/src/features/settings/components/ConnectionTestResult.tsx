import { Fragment } from 'react';
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

/** A step's parts, each in its own span for the layout, with separators a screen reader reads out. */
function StepParts({ step, error }: { step: DiagnosisStep; error: string | null }) {
  // The failed step's detail is often the error shown above it: it is not said twice.
  const detail = step.detail && !(step.status === 'failed' && step.detail === error) ? step.detail : null;
  const parts = [
    { className: 'step-status', text: STEP_WORDS[step.status] },
    ...(step.duration_ms === null ? [] : [{ className: 'step-duration', text: formatDuration(step.duration_ms) }]),
    ...(detail ? [{ className: 'step-detail', text: detail }] : []),
  ];
  return (
    <>
      <span className="step-label">{step.label}</span>
      {parts.map((part, index) => (
        <Fragment key={part.className}>
          <span className="visually-hidden">{index === 0 ? ': ' : ', '}</span>
          <span className={part.className}>{part.text}</span>
        </Fragment>
      ))}
    </>
  );
}

interface ConnectionTestResultProps {
  result: TestConnectionResult;
  label: string;
  /** Whether this test asked for a one-token generation; if not, its skipped step says nothing. */
  generateRequested: boolean;
  /** The values tested are not the saved ones. */
  unsaved: boolean;
}

export function ConnectionTestResult({ result, label, generateRequested, unsaved }: ConnectionTestResultProps) {
  const word = statusWord(result);
  const version = result.server_info?.version;
  const steps = result.steps.filter((step) => generateRequested || !(step.name === 'generate' && step.status === 'skipped'));
  return (
    <div className="test-result" data-testid="test-result">
      <p className="test-summary">
        <span className={`badge badge-${word.toLowerCase()}`} data-testid="test-status">
          {word}
        </span>{' '}
        {label}
        {result.status === 'connected' && result.latency_ms !== null && <> · {formatDuration(result.latency_ms)}</>}
        {result.status === 'connected' && <> · {modelCount(result.models.length)}</>}
        {version && <> · version {version}</>}
        {unsaved && <span className="muted"> (values not saved yet)</span>}
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
      {steps.length > 0 && (
        <ol className="steps" aria-label="Diagnosis steps" data-testid="test-steps">
          {steps.map((step) => (
            <li key={step.name} className={`step step-${step.status}`}>
              <StepParts step={step} error={result.error} />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
