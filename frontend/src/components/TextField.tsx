import type { InputHTMLAttributes, ReactNode } from 'react';

interface TextFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value' | 'id'> {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  hint?: string;
  /** A validation message for this field. */
  error?: string;
  testId?: string;
  /** Shown beside the input, e.g. a show/hide button. */
  addon?: ReactNode;
}

/** A labelled input with its hint and validation message wired up for screen readers. */
export function TextField({ id, label, value, onChange, hint, error, testId, addon, ...inputProps }: TextFieldProps) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint && hintId, error && errorId].filter(Boolean).join(' ') || undefined;
  const input = (
    <input
      {...inputProps}
      id={id}
      value={value}
      onChange={(event) => onChange(event.target.value)}
      aria-invalid={error ? true : undefined}
      aria-describedby={describedBy}
      data-testid={testId}
    />
  );
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {addon ? (
        <div className="field-inline">
          {input}
          {addon}
        </div>
      ) : (
        input
      )}
      {hint && (
        <p className="field-hint" id={hintId}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={errorId} role="alert" data-testid={testId && `${testId}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}
