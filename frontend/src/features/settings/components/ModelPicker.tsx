import { ErrorMessage } from '../../../components/ErrorMessage';

interface ModelPickerProps {
  /** The backend's label, for the hints. */
  label: string;
  /** The models of the server the form points at, or null when they are not known for it yet. */
  models: string[] | null;
  loading: boolean;
  /** Why the saved server's models could not be listed. */
  listError: Error | null;
  /** The status panel already shows the same failure in full. */
  listErrorShownAbove: boolean;
  /** What to do when the models of the server in the form are not known. */
  unknownHint: string;
  value: string;
  onChange: (model: string) => void;
  /** The chosen model is not one the server offers (or the server's own validation message). */
  error?: string;
  onRefresh: () => void;
  refreshing: boolean;
}

/** The default model, chosen from the list of the server in the form, never another server's. */
export function ModelPicker(props: ModelPickerProps) {
  const { label, models, loading, listError, listErrorShownAbove, unknownHint, value, onChange, error, onRefresh, refreshing } =
    props;
  const listed = models ?? [];
  const missing = value !== '' && !listed.includes(value);
  const hintId = 'default-model-hint';
  const errorId = 'default-model-error';
  const describedBy = [hintId, error && errorId].filter(Boolean).join(' ');

  let hint = 'The model stories are written with.';
  if (models === null && !loading && !listError) hint = unknownHint;
  else if (models !== null && models.length === 0) hint = `${label} reports no models. Load or download one, then refresh.`;

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
          aria-describedby={describedBy}
          data-testid="model-select"
        >
          <option value="">{loading ? 'Loading models…' : '— Choose a model —'}</option>
          {listed.map((model) => (
            <option key={model} value={model}>
              {model}
            </option>
          ))}
          {missing && <option value={value}>{models === null ? value : `${value} (not offered by this server)`}</option>}
        </select>
        <button
          type="button"
          className="button-secondary"
          disabled={refreshing}
          onClick={onRefresh}
          data-testid="refresh-models-button"
        >
          {refreshing ? 'Refreshing…' : 'Refresh Models'}
        </button>
      </div>
      <p className="field-hint" id={hintId} data-testid="model-hint">
        {hint}
      </p>
      {error && (
        <p className="field-error" id={errorId} role="alert" data-testid="model-select-error">
          {error}
        </p>
      )}
      {listError &&
        (listErrorShownAbove ? (
          <p className="field-hint" data-testid="models-error">
            Models cannot be listed while the saved backend fails (see Status above).
          </p>
        ) : (
          <ErrorMessage error={listError} title="Could not list models" testId="models-error" />
        ))}
    </div>
  );
}
