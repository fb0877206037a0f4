import { BACKEND_LABELS, BACKEND_TYPES } from '../../../lib/backends';
import type { BackendType } from '../../../types/LLMTypes';

interface BackendSelectProps {
  value: BackendType;
  onChange: (backendType: BackendType) => void;
  error?: string;
}

export function BackendSelect({ value, onChange, error }: BackendSelectProps) {
  return (
    <div className="field">
      <label htmlFor="backend-type">Backend</label>
      <select
        id="backend-type"
        value={value}
        onChange={(event) => onChange(event.target.value as BackendType)}
        aria-invalid={error ? true : undefined}
        data-testid="backend-select"
      >
        {BACKEND_TYPES.map((backendType) => (
          <option key={backendType} value={backendType}>
            {BACKEND_LABELS[backendType]}
          </option>
        ))}
      </select>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
