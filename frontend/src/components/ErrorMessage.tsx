import type { ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { adviceFor } from '../lib/errorAdvice';

interface ErrorMessageProps {
  error: Error;
  /** Leads the message, e.g. "Could not save". */
  title?: string;
  onRetry?: () => void;
  /** Adds a link to Settings when the next step is taken there (on pages other than Settings). */
  settingsLink?: boolean;
  children?: ReactNode;
  testId?: string;
}

/** A failure in words the user can act on: what went wrong, and the next step fitted to it. */
export function ErrorMessage({ error, title, onRetry, settingsLink = false, children, testId }: ErrorMessageProps) {
  const advice = adviceFor(error);
  return (
    <div className="notice notice-error" role="alert" data-testid={testId}>
      <p>
        {title && <strong>{title}: </strong>}
        {advice.message}
      </p>
      <p className="notice-hint" data-testid={testId && `${testId}-next-step`}>
        {advice.nextStep}
        {settingsLink && advice.inSettings && (
          <>
            {' '}
            <Link to="/settings">Open Settings</Link>
          </>
        )}
      </p>
      {children}
      {onRetry && (
        <button type="button" className="button-secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
