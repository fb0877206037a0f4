import { BACKEND_LABELS } from '../../../lib/backends';
import { useModels, useRefreshModels } from '../api/get-models';
import type { BackendType } from '../../../types/LLMTypes';
import { ErrorMessage } from '../../../components/ErrorMessage';

interface ModelPickerProps {
  backendType: BackendType;
  /** Whether the server has this backend saved, so it can list its models. */
  isSaved: boolean;
  /** Models from a successful test of the unsaved values; they win until the next refresh. */
  testedModels?: string[];
  onRefreshed: () => void;
  value: string;
  onChange: (model: string) => void;
  error?: string;
}

export function ModelPicker({ backendType, isSaved, testedModels, onRefreshed, value, onChange, error }: ModelPickerProps) {
  const savedModels = useModels(backendType, isSaved && !testedModels);
  const refresh = useRefreshModels();
  const refreshing = refresh.isPending && refresh.variables === backendType;
  const refreshError = refresh.variables === backendType ? refresh.error : null;
  const listError = testedModels ? null : (refreshError ?? savedModels.error);

  const models = testedModels ?? savedModels.data?.models ?? [];
  // The saved default stays choosable even when the backend cannot list it right now.
  const options = value && !models.includes(value) ? [value, ...models] : models;
  const loading = !testedModels && savedModels.isFetching;

  return (
    <div className="field">
      <label htmlFor="default-model">Default model</label>
      <div className="field-inline">
        <select
          id="default-model"
          value={value}
          onChange={(event) => onChange(event.target.value)}
          aria-invalid={error ? true : undefined}
          aria-busy={loading || refreshing}
          data-testid="model-select"
        >
          <option value="">{loading ? 'Loading models…' : '— Choose a model —'}</option>
          {options.map((model) => (
            <option key={model} value={model}>
              {model}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="button-secondary"
          disabled={!isSaved || refreshing}
          onClick={() => refresh.mutate(backendType, { onSuccess: onRefreshed })}
          data-testid="refresh-models-button"
        >
          {refreshing ? 'Refreshing…' : 'Refresh Models'}
        </button>
      </div>
      {!isSaved && !testedModels && (
        <p className="field-hint">Test the connection to list {BACKEND_LABELS[backendType]}&apos;s models.</p>
      )}
      {isSaved && !loading && !listError && models.length === 0 && (
        <p className="field-hint">{BACKEND_LABELS[backendType]} reports no models. Load or download one, then refresh.</p>
      )}
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {listError && <ErrorMessage error={listError} title="Could not list models" testId="models-error" />}
    </div>
  );
}
