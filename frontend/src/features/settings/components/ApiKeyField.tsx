import { useState } from 'react';
import { TextField } from '../../../components/TextField';
import type { BackendConfigField } from '../../../types/api';
import { REENTER_KEY_MESSAGE } from '../lib/backendDrafts';

interface ApiKeyFieldProps {
  id: string;
  testId: string;
  field: BackendConfigField;
  value: string;
  onChange: (value: string) => void;
  /** The stored key's mask, or null when none is stored. */
  stored: string | null;
  /** The form points at another address than the stored key was saved for. */
  mustReenter: boolean;
  error?: string;
}

/** A secret field: the key never comes back from the server, only its mask, so blank means "keep it". */
export function ApiKeyField({ id, testId, field, value, onChange, stored, mustReenter, error }: ApiKeyFieldProps) {
  const [shown, setShown] = useState(false);
  const hint = mustReenter
    ? REENTER_KEY_MESSAGE
    : stored
      ? `A key is stored (${stored}). Leave blank to keep it, or paste a new one to replace it.`
      : (field.help ?? undefined);
  return (
    <TextField
      id={id}
      label={field.label}
      type={shown ? 'text' : 'password'}
      autoComplete="off"
      spellCheck={false}
      value={value}
      onChange={onChange}
      required={mustReenter || (field.required && !stored)}
      placeholder={stored && !mustReenter ? `${stored} — leave blank to keep` : (field.placeholder ?? undefined)}
      hint={error === hint ? undefined : hint}
      error={error}
      testId={testId}
      addon={
        <button
          type="button"
          className="button-secondary"
          aria-pressed={shown}
          aria-controls={id}
          aria-label={`${shown ? 'Hide' : 'Show'} ${field.label}`}
          onClick={() => setShown(!shown)}
          data-testid={`${testId}-visibility`}
        >
          {shown ? 'Hide' : 'Show'}
        </button>
      }
    />
  );
}
