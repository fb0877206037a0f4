import { type FormEvent, useState } from 'react';
import { BACKEND_LABELS, isBackendType } from '../../../lib/backends';
import { ApiError } from '../../../lib/api-client';
import { useTestConnection } from '../api/test-connection';
import { useSaveLLMSettings } from '../api/save-llm-settings';
import type { LLMSettings } from '../../../types/api';
import type { BackendType } from '../../../types/LLMTypes';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { TextField } from '../../../components/TextField';
import { ADVANCED_FIELDS, AdvancedOptions } from './AdvancedOptions';
import { ApiKeyField } from './ApiKeyField';
import { BackendSelect } from './BackendSelect';
import { type BackendDraft, draftRequest, savedDraft, savedDrafts } from './backendDrafts';
import { ConnectionTestResult } from './ConnectionTestResult';
import { ModelPicker } from './ModelPicker';

const FORM_FIELDS = new Set(['backend_type', 'config.url', 'config.api_key', 'default_model', ...ADVANCED_FIELDS]);

/** The backend choice and its form. Every backend keeps its own draft, so switching away and back loses nothing. */
export function LLMSettingsForm({ settings }: { settings: LLMSettings }) {
  const [backendType, setBackendType] = useState<BackendType>(isBackendType(settings.backend_type) ? settings.backend_type : 'lmstudio');
  const [drafts, setDrafts] = useState(() => savedDrafts(settings));
  const [testedModels, setTestedModels] = useState<Partial<Record<BackendType, string[]>>>({});
  const test = useTestConnection();
  const save = useSaveLLMSettings();

  const draft = drafts[backendType];
  const label = BACKEND_LABELS[backendType];
  const isSaved = settings.backends[backendType] !== undefined;

  const updateDraft = (patch: Partial<BackendDraft>) =>
    setDrafts((current) => ({ ...current, [backendType]: { ...current[backendType], ...patch } }));
  const setTestedModelsFor = (testedBackend: BackendType, models: string[] | undefined) =>
    setTestedModels((current) => ({ ...current, [testedBackend]: models }));

  // Results belong to the backend they were for; another backend's result stays hidden.
  const testShown = test.variables?.backend_type === backendType;
  const saveShown = save.variables?.backend_type === backendType;
  const saveError = saveShown ? save.error : null;
  const fieldError = (field: string) =>
    saveError instanceof ApiError && saveError.field === field ? saveError.message : undefined;
  const saveErrorIsOnField = saveError instanceof ApiError && saveError.field !== undefined && FORM_FIELDS.has(saveError.field);

  const runTest = () => {
    const { backend_type, config } = draftRequest(backendType, draft);
    test.mutate(
      { backend_type, config },
      { onSuccess: (result) => result.status === 'connected' && setTestedModelsFor(backend_type, result.models) },
    );
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate(draftRequest(backendType, draft), {
      // The server normalises URLs and keeps the key; show what it stored, with the key field blank again.
      onSuccess: (saved, request) =>
        setDrafts((current) => ({ ...current, [request.backend_type]: savedDraft(request.backend_type, saved) })),
    });
  };

  return (
    <section className="card" aria-labelledby="backend-heading">
      <h2 id="backend-heading">LLM backend</h2>
      <form onSubmit={submit} noValidate>
        <BackendSelect value={backendType} onChange={setBackendType} error={fieldError('backend_type')} />

        {backendType === 'chatgpt' ? (
          <ApiKeyField
            value={draft.apiKey}
            onChange={(apiKey) => updateDraft({ apiKey })}
            saved={settings.backends.chatgpt?.config}
            error={fieldError('config.api_key')}
          />
        ) : (
          <TextField
            id="server-url"
            label="Server URL"
            type="url"
            value={draft.url}
            onChange={(url) => updateDraft({ url })}
            placeholder={backendType === 'ollama' ? 'http://localhost:11434' : 'http://localhost:1234'}
            hint={`Where ${label} listens, as seen from the Taleweaver server.`}
            error={fieldError('config.url')}
            testId="url-input"
          />
        )}

        <AdvancedOptions backendType={backendType} draft={draft} onChange={updateDraft} fieldError={fieldError} />

        <div className="actions">
          <button
            type="button"
            className="button-secondary"
            onClick={runTest}
            disabled={test.isPending}
            data-testid="test-connection-button"
          >
            {test.isPending ? 'Testing…' : 'Test Connection'}
          </button>
        </div>
        <div aria-live="polite">
          {testShown && test.isPending && <p role="status">Testing the connection to {label}…</p>}
          {testShown && test.data && <ConnectionTestResult result={test.data} />}
          {testShown && test.error && (
            <ErrorMessage error={test.error} title="Could not run the test" testId="test-result" />
          )}
        </div>

        <ModelPicker
          backendType={backendType}
          isSaved={isSaved}
          testedModels={testedModels[backendType]}
          onRefreshed={() => setTestedModelsFor(backendType, undefined)}
          value={draft.defaultModel}
          onChange={(defaultModel) => updateDraft({ defaultModel })}
          error={fieldError('default_model')}
        />

        <div className="actions">
          <button type="submit" className="button-primary" disabled={save.isPending} data-testid="save-button">
            {save.isPending ? 'Saving…' : 'Save'}
          </button>
        </div>
        {saveShown && save.isSuccess && (
          <p className="notice notice-success" role="status" data-testid="save-result">
            Saved. {label} is now the active backend.
          </p>
        )}
        {saveError &&
          (saveErrorIsOnField ? (
            <p className="notice notice-error" role="alert" data-testid="save-result">
              Not saved — fix the field marked above.
            </p>
          ) : (
            <ErrorMessage error={saveError} title="Not saved" testId="save-result" />
          ))}
      </form>
    </section>
  );
}
