import type { ReactNode } from 'react';
import { ApiError } from '../lib/api-client';

interface ErrorMessageProps {
  error: Error;
  /** Leads the message, e.g. "Could not save". */
  title?: string;
  onRetry?: () => void;
  children?: ReactNode;
  testId?: string;
}

/** A failure in words the user can act on: the server's message, its hint, and what to try. */
export function ErrorMessage({ error, title, onRetry, children, testId }: ErrorMessageProps) {
  const hint = error instanceof ApiError ? error.hint : undefined;
  return (
    <div className="notice notice-error" role="alert" data-testid={testId}>
      <p>
        {title && <strong>{title}: </strong>}
        {error.message}
      </p>
      {hint && <p className="notice-hint">{hint}</p>}
      {children}
      {onRetry && (
        <button type="button" className="button-secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
