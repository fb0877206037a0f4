import type { BackendDescriptor } from '../../../types/api';

interface BackendSelectProps {
  backends: BackendDescriptor[];
  value: string;
  onChange: (backendType: string) => void;
  error?: string;
}

export function BackendSelect({ backends, value, onChange, error }: BackendSelectProps) {
  const description = backends.find((backend) => backend.type === value)?.description;
  return (
    <div className="field">
      <label htmlFor="backend-type">Backend</label>
      <select
        id="backend-type"
        value={value}
        onChange={(event) => onChange(event.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={description ? 'backend-type-hint' : undefined}
        data-testid="backend-select"
      >
        {backends.map((backend) => (
          <option key={backend.type} value={backend.type}>
            {backend.label}
          </option>
        ))}
      </select>
      {description && (
        <p className="field-hint" id="backend-type-hint">
          {description}
        </p>
      )}
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
