import { TextField } from '../../../components/TextField';
import type { BackendConfigField, BackendDescriptor } from '../../../types/api';
import { fieldInputId } from '../lib/backendDrafts';
import { ApiKeyField } from './ApiKeyField';

/** The test id browser tests find a field by, e.g. `base-url-input`. */
function fieldTestId(field: BackendConfigField): string {
  return `${field.name.replaceAll('_', '-')}-input`;
}

interface ConfigFieldProps {
  descriptor: BackendDescriptor;
  field: BackendConfigField;
  value: string;
  onChange: (value: string) => void;
  error?: string;
  /** For a secret: the stored key's mask, and whether it may not be used for the address in the form. */
  stored?: string | null;
  mustReenter?: boolean;
}

/** One config field of a backend, drawn from its descriptor by kind. */
export function ConfigField({ descriptor, field, value, onChange, error, stored = null, mustReenter = false }: ConfigFieldProps) {
  const id = fieldInputId(descriptor, field);
  const testId = fieldTestId(field);
  if (field.secret) {
    return (
      <ApiKeyField
        id={id}
        testId={testId}
        field={field}
        value={value}
        onChange={onChange}
        stored={stored}
        mustReenter={mustReenter}
        error={error}
      />
    );
  }
  const seconds = field.kind === 'seconds';
  return (
    <TextField
      id={id}
      label={seconds ? `${field.label} (seconds)` : field.required ? field.label : `${field.label} (optional)`}
      type={seconds ? 'number' : field.kind === 'url' ? 'url' : 'text'}
      inputMode={seconds ? 'decimal' : undefined}
      spellCheck={field.kind === 'text' ? undefined : false}
      required={field.required}
      value={value}
      onChange={onChange}
      placeholder={field.placeholder ?? undefined}
      hint={field.help ?? undefined}
      error={error}
      testId={testId}
    />
  );
}
