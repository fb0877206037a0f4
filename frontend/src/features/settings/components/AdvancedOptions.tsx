import { type ReactNode, useState } from 'react';

interface AdvancedOptionsProps {
  /** The backend's advanced fields, already drawn. */
  children: ReactNode;
  /** One of them has an error: the options open by themselves to show it. */
  hasError: boolean;
}

/** Fields most people never touch, behind a toggle. */
export function AdvancedOptions({ children, hasError }: AdvancedOptionsProps) {
  const [open, setOpen] = useState(false);
  const shown = open || hasError;

  return (
    <div className="advanced">
      <button
        type="button"
        className="button-link"
        aria-expanded={shown}
        aria-controls="advanced-options"
        onClick={() => setOpen(!shown)}
        data-testid="advanced-toggle"
      >
        {shown ? 'Hide advanced options' : 'Show advanced options'}
      </button>
      {shown && (
        <div id="advanced-options" className="advanced-fields">
          {children}
        </div>
      )}
    </div>
  );
}
