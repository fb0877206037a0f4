import { ErrorMessage } from '../../../components/ErrorMessage';
import { ApiError } from '../../../lib/api-client';
import type { TestConnectionResult } from '../../../types/api';
import { ConnectionTestResult } from './ConnectionTestResult';

interface ConnectionTestProps {
  label: string;
  /** Ask for the one-token generation too. */
  generate: boolean;
  onGenerateChange: (generate: boolean) => void;
  testing: boolean;
  result: TestConnectionResult | undefined;
  /** A test that could not run; one that names a field is shown on that field instead. */
  error: Error | null;
  generateRequested: boolean;
  /** The values tested are not the saved ones. */
  unsaved: boolean;
  /** This backend was tested with other values than the form holds now. */
  stale: boolean;
}

/** The "Test Connection" button (the form's submit) and what the last test of these values found. */
export function ConnectionTest({ label, generate, onGenerateChange, testing, result, error, generateRequested, unsaved, stale }: ConnectionTestProps) {
  return (
    <>
      <label className="checkbox">
        <input type="checkbox" checked={generate} onChange={(event) => onGenerateChange(event.target.checked)} data-testid="test-generate-checkbox" />
        <span>Also generate one token with the default model (checks that the model loads and answers)</span>
      </label>

      <div className="actions">
        <button type="submit" className="button-secondary" disabled={testing} data-testid="test-connection-button">
          {testing ? 'Testing…' : 'Test Connection'}
        </button>
      </div>
      <div aria-live="polite">
        {testing && <p role="status">Testing the connection to {label}…</p>}
        {result && <ConnectionTestResult result={result} label={label} generateRequested={generateRequested} unsaved={unsaved} />}
        {error && !(error instanceof ApiError && error.field) && <ErrorMessage error={error} title="Could not run the test" testId="test-result" />}
        {stale && (
          <p className="test-stale muted" data-testid="test-stale">
            The values have changed since the last test: test again to check them.
          </p>
        )}
      </div>
    </>
  );
}
