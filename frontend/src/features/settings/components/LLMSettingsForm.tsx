import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { ApiError } from '../../../lib/api-client';
import type { BackendDescriptor, LLMSettings, TestConnectionRequest } from '../../../types/api';
import { useLLMStatus, useModels, useRefreshModels, useTestConnection } from '../api/llmBackend';
import { useSaveLLMSettings } from '../api/settings';
import { useBackendDraft } from '../hooks/useBackendDraft';
import {
  addressOf,
  connectionOf,
  DEFAULT_MODEL_KEY,
  draftConfig,
  draftErrors,
  draftRequest,
  fieldInputId,
  fieldKey,
  savedDraft,
  secretMustBeReentered,
  storedSecret,
} from '../lib/backendDrafts';
import { AdvancedOptions } from './AdvancedOptions';
import { BackendSelect } from './BackendSelect';
import { ConfigField } from './ConfigField';
import { ConnectionTestResult } from './ConnectionTestResult';
import { ModelPicker } from './ModelPicker';

/** The values a connection test ran with, to tell whether its result still belongs to the form. */
interface TestedValues {
  backendType: string;
  connection: string;
  address: string;
  generate: boolean;
}

interface LLMSettingsFormProps {
  settings: LLMSettings;
  backends: BackendDescriptor[];
}

/**
 * The backend choice and its form, drawn from the backend descriptors. What the form shows is
 * always about the values in it: a test result or "Saved." of other values is not shown, and
 * the model list is the one of the server the form points at.
 */
export function LLMSettingsForm({ settings, backends }: LLMSettingsFormProps) {
  const { descriptor, saved, draft, isEdited, choose, setValue, setDefaultModel, discardEdits } = useBackendDraft(backends, settings);
  const test = useTestConnection();
  const save = useSaveLLMSettings();
  const refresh = useRefreshModels();
  const status = useLLMStatus();
  const [tested, setTested] = useState<TestedValues | null>(null);
  const [generate, setGenerate] = useState(false);
  // Client-side problems are shown once the user tried to test or save, and then kept current.
  const [attempt, setAttempt] = useState<{ action: 'test' | 'save'; count: number } | null>(null);
  const checked = attempt !== null;
  const focusTarget = useRef<string | null>(null);

  const backendType = descriptor.type;
  const label = descriptor.label;
  const isSaved = saved !== undefined;
  const connection = connectionOf(descriptor, draft);
  const address = addressOf(descriptor, draft);
  const atSavedAddress = isSaved && address === addressOf(descriptor, savedDraft(descriptor, saved));
  const request = draftRequest(descriptor, draft);

  // A result belongs to the exact values it was for; editing them takes it off the screen.
  const testBelongs = tested !== null && tested.backendType === backendType && tested.connection === connection;
  const testResult = testBelongs && !test.isPending ? test.data : undefined;
  const testError = testBelongs && !test.isPending ? test.error : null;
  const testedModels =
    test.data?.status === 'connected' && tested?.backendType === backendType && tested.address === address ? test.data.models : null;

  const savedModels = useModels(backendType, atSavedAddress && testedModels === null);
  const models = testedModels ?? (atSavedAddress ? (savedModels.data?.models ?? null) : null);
  const modelsLoading = testedModels === null && atSavedAddress && savedModels.isFetching;
  const refreshError = refresh.variables === backendType ? refresh.error : null;
  const listError = testedModels === null && atSavedAddress ? (refreshError ?? savedModels.error) : null;
  const statusError = status.data?.backend_type === backendType ? status.data.error : null;

  const saveBelongs = save.variables !== undefined && JSON.stringify(save.variables) === JSON.stringify(request);
  const serverError =
    (saveBelongs && !save.isPending ? save.error : null) ??
    (testBelongs && testResult?.field ? new ApiError(200, testResult.error_code ?? 'error', testResult.error ?? '', { field: testResult.field }) : null) ??
    (testError instanceof ApiError && testError.field ? testError : null);

  const clientErrors = draftErrors(descriptor, draft, saved);
  const modelMissing = draft.defaultModel !== '' && models !== null && !models.includes(draft.defaultModel);
  if (modelMissing) {
    clientErrors[DEFAULT_MODEL_KEY] =
      `“${draft.defaultModel}” is not offered by this ${label} server: choose one of its models, or test again after loading it.`;
  }
  const fieldErrors: Record<string, string> = {
    ...(checked ? clientErrors : {}),
    ...(modelMissing ? { [DEFAULT_MODEL_KEY]: clientErrors[DEFAULT_MODEL_KEY] } : {}),
    ...(serverError instanceof ApiError && serverError.field ? { [serverError.field]: serverError.message } : {}),
  };
  const fieldOrder = ['backend_type', ...descriptor.fields.map(fieldKey), DEFAULT_MODEL_KEY];
  const inputIds: Record<string, string> = {
    backend_type: 'backend-type',
    [DEFAULT_MODEL_KEY]: 'default-model',
    ...Object.fromEntries(descriptor.fields.map((field) => [fieldKey(field), fieldInputId(descriptor, field)])),
  };
  const serverErrorOnField = serverError instanceof ApiError && serverError.field !== undefined && serverError.field in inputIds;

  // Focus moves to the first field in error once it is on the page (advanced options open first).
  useEffect(() => {
    const element = focusTarget.current && document.getElementById(focusTarget.current);
    if (element) {
      element.focus();
      focusTarget.current = null;
    }
  });

  const tryAgain = (action: 'test' | 'save') => setAttempt((last) => ({ action, count: (last?.count ?? 0) + 1 }));
  const focusFirstError = (errors: Record<string, string>) => {
    const first = fieldOrder.find((key) => errors[key]);
    if (first) focusTarget.current = inputIds[first];
  };

  const runTest = () => {
    const errors = { ...clientErrors };
    delete errors[DEFAULT_MODEL_KEY];
    tryAgain('test');
    if (Object.keys(errors).length > 0) {
      focusFirstError(errors);
      return;
    }
    const body: TestConnectionRequest = { backend_type: backendType, config: draftConfig(descriptor, draft) };
    if (generate) {
      body.generate = true;
      if (draft.defaultModel) body.model = draft.defaultModel;
    }
    setTested({ backendType, connection, address, generate });
    test.mutate(body);
  };

  const runSave = () => {
    tryAgain('save');
    if (Object.keys(clientErrors).length > 0) {
      focusFirstError(clientErrors);
      return;
    }
    save.mutate(request, {
      onError: (error) => {
        if (error instanceof ApiError && error.field) focusFirstError({ [error.field]: error.message });
      },
      onSuccess: (stored, sent) => {
        const descriptorSaved = backends.find((backend) => backend.type === sent.backend_type);
        discardEdits(sent.backend_type);
        if (!descriptorSaved) return;
        // Testing what was just saved makes "Last test" the test of the saved values.
        const savedValues = savedDraft(descriptorSaved, stored.backends[sent.backend_type]);
        setTested({
          backendType: sent.backend_type,
          connection: connectionOf(descriptorSaved, savedValues),
          address: addressOf(descriptorSaved, savedValues),
          generate: false,
        });
        test.mutate({ backend_type: sent.backend_type, config: draftConfig(descriptorSaved, savedValues) });
      },
    });
  };

  const refreshModels = () => {
    if (atSavedAddress) refresh.mutate(backendType, { onSuccess: () => setTested(null) });
    else runTest();
  };

  // Enter in a field tests the connection: saving (and activating the backend) takes the Save button.
  const submit = (event: FormEvent) => {
    event.preventDefault();
    runTest();
  };

  const renderField = (field: BackendDescriptor['fields'][number]) => (
    <ConfigField
      key={field.name}
      descriptor={descriptor}
      field={field}
      value={draft.values[field.name]}
      onChange={(value) => setValue(field.name, value)}
      error={fieldErrors[fieldKey(field)]}
      stored={field.secret ? storedSecret(field, saved) : null}
      mustReenter={secretMustBeReentered(descriptor, field, draft, saved)}
    />
  );
  const basicFields = descriptor.fields.filter((field) => !field.advanced);
  const advancedFields = descriptor.fields.filter((field) => field.advanced);
  const showSaved = save.isSuccess && save.variables?.backend_type === backendType && !isEdited;
  const testing = test.isPending && tested?.backendType === backendType;
  const hasFieldErrors = fieldOrder.some((key) => fieldErrors[key] && key !== DEFAULT_MODEL_KEY) || (checked && modelMissing);

  return (
    <section className="card" aria-labelledby="backend-heading">
      <h2 id="backend-heading">LLM backend</h2>
      <form onSubmit={submit} noValidate>
        <BackendSelect backends={backends} value={backendType} onChange={choose} error={fieldErrors.backend_type} />

        {basicFields.map(renderField)}

        {advancedFields.length > 0 && (
          <AdvancedOptions hasError={advancedFields.some((field) => fieldErrors[fieldKey(field)])}>
            <div className="field-row">{advancedFields.map(renderField)}</div>
          </AdvancedOptions>
        )}

        <label className="checkbox">
          <input
            type="checkbox"
            checked={generate}
            onChange={(event) => setGenerate(event.target.checked)}
            data-testid="test-generate-checkbox"
          />
          <span>Also generate one token with the default model (checks that the model loads and answers)</span>
        </label>

        <div className="actions">
          <button type="submit" className="button-secondary" disabled={testing} data-testid="test-connection-button">
            {testing ? 'Testing…' : 'Test Connection'}
          </button>
        </div>
        <div aria-live="polite">
          {testing && <p role="status">Testing the connection to {label}…</p>}
          {testResult && (
            <ConnectionTestResult
              result={testResult}
              label={label}
              generateRequested={tested?.generate ?? false}
              unsaved={!isSaved || isEdited}
            />
          )}
          {testError && !(testError instanceof ApiError && testError.field) && (
            <ErrorMessage error={testError} title="Could not run the test" testId="test-result" />
          )}
          {!testing && !testBelongs && tested?.backendType === backendType && (
            <p className="test-stale muted" data-testid="test-stale">
              The values have changed since the last test: test again to check them.
            </p>
          )}
        </div>

        <ModelPicker
          label={label}
          models={models}
          loading={modelsLoading}
          listError={listError}
          listErrorShownAbove={listError !== null && statusError !== null && listError.message === statusError}
          unknownHint={
            isSaved
              ? `Test the connection to list the models of the server in the form.`
              : `Test the connection to list ${label}'s models.`
          }
          value={draft.defaultModel}
          onChange={setDefaultModel}
          error={fieldErrors[DEFAULT_MODEL_KEY]}
          onRefresh={refreshModels}
          refreshing={(refresh.isPending && refresh.variables === backendType) || testing}
        />

        <div className="actions">
          <button type="button" className="button-primary" onClick={runSave} disabled={save.isPending} data-testid="save-button">
            {save.isPending ? 'Saving…' : 'Save'}
          </button>
        </div>
        {showSaved && (
          <div role="status">
            <p className="notice notice-success" data-testid="save-result">
              Saved. {label} is now the active backend.
            </p>
            {!save.data?.default_model && (
              <p className="notice notice-warning" data-testid="save-warning">
                No default model is chosen: stories cannot be written until you choose one and save again.
              </p>
            )}
          </div>
        )}
        {hasFieldErrors && !showSaved && (
          <p className="notice notice-error" role="alert" data-testid="save-result">
            {attempt?.action === 'save' ? 'Not saved — fix' : 'Fix'} the {Object.keys(fieldErrors).length === 1 ? 'field' : 'fields'}{' '}
            marked above.
          </p>
        )}
        {saveBelongs && save.error && !serverErrorOnField && <ErrorMessage error={save.error} title="Not saved" testId="save-result" />}
      </form>
    </section>
  );
}
