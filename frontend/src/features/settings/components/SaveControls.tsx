import { ErrorMessage } from '../../../components/ErrorMessage';

interface SaveControlsProps {
  label: string;
  saving: boolean;
  onSave: () => void;
  /** The values in the form are the ones just saved. */
  saved: boolean;
  savedWithoutModel: boolean;
  /** Fields are marked in error; after a save, the summary says it did not happen. */
  hasFieldErrors: boolean;
  lastAction: 'test' | 'save' | null;
  fieldErrorCount: number;
  /** A failed save of these values that is not shown on a field. */
  saveError: Error | null;
}

/** Save, and what became of the last save of the values in the form. */
export function SaveControls({ label, saving, onSave, saved, savedWithoutModel, hasFieldErrors, lastAction, fieldErrorCount, saveError }: SaveControlsProps) {
  return (
    <>
      <div className="actions">
        <button type="button" className="button-primary" onClick={onSave} disabled={saving} data-testid="save-button">
          {saving ? 'Saving…' : 'Save'}
        </button>
      </div>
      {saved && (
        <div role="status">
          <p className="notice notice-success" data-testid="save-result">
            Saved. {label} is now the active backend.
          </p>
          {savedWithoutModel && (
            <p className="notice notice-warning" data-testid="save-warning">
              No default model is chosen: stories cannot be written until you choose one and save again.
            </p>
          )}
        </div>
      )}
      {hasFieldErrors && !saved && (
        <p className="notice notice-error" role="alert" data-testid="save-result">
          {lastAction === 'save' ? 'Not saved — fix' : 'Fix'} the {fieldErrorCount === 1 ? 'field' : 'fields'} marked above.
        </p>
      )}
      {saveError && <ErrorMessage error={saveError} title="Not saved" testId="save-result" />}
    </>
  );
}
