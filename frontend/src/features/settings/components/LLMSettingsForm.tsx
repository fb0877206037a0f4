import { type FormEvent, useState } from 'react';
import { ApiError } from '../../../lib/api-client';
import type { BackendConfigField, BackendDescriptor, LLMSettings } from '../../../types/api';
import { useSaveLLMSettings } from '../api/settings';
import { useBackendDraft } from '../hooks/useBackendDraft';
import { useConnectionTest } from '../hooks/useConnectionTest';
import { useFieldErrors } from '../hooks/useFieldErrors';
import { useModelChoices } from '../hooks/useModelChoices';
import { DEFAULT_MODEL_KEY, draftRequest, fieldKey, savedDraft, secretMustBeReentered, storedSecret } from '../lib/backendDrafts';
import { AdvancedOptions } from './AdvancedOptions';
import { BackendSelect } from './BackendSelect';
import { ConfigField } from './ConfigField';
import { ConnectionTest } from './ConnectionTest';
import { ModelPicker } from './ModelPicker';
import { SaveControls } from './SaveControls';

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
  const test = useConnectionTest(descriptor, draft);
  const choices = useModelChoices(descriptor, draft, saved, test.models);
  const save = useSaveLLMSettings();
  const [generate, setGenerate] = useState(false);

  const backendType = descriptor.type;
  const label = descriptor.label;
  const request = draftRequest(descriptor, draft);
  const saveBelongs = save.variables !== undefined && JSON.stringify(save.variables) === JSON.stringify(request);
  const testError = test.result?.field
    ? new ApiError(200, test.result.error_code ?? 'error', test.result.error ?? '', { field: test.result.field })
    : test.error;
  const errors = useFieldErrors({
    descriptor,
    draft,
    saved,
    models: choices.models,
    serverError: (saveBelongs && !save.isPending ? save.error : null) ?? testError,
  });

  const runTest = () => {
    if (errors.check('test')) test.run(descriptor, draft, { generate });
  };

  const runSave = () => {
    if (!errors.check('save')) return;
    save.mutate(request, {
      onError: (error) => {
        if (error instanceof ApiError && error.field) errors.focusFirstError({ [error.field]: error.message });
      },
      onSuccess: (stored, sent) => {
        const descriptorSaved = backends.find((backend) => backend.type === sent.backend_type);
        discardEdits(sent.backend_type);
        // Testing what was just saved makes "Last test" the test of the saved values.
        if (descriptorSaved) test.run(descriptorSaved, savedDraft(descriptorSaved, stored.backends[sent.backend_type]));
      },
    });
  };

  const refreshModels = () => {
    if (choices.atSavedAddress) choices.refreshSaved(test.forget);
    else runTest();
  };

  // Enter in a field tests the connection: saving (and activating the backend) takes the Save button.
  const submit = (event: FormEvent) => {
    event.preventDefault();
    runTest();
  };

  const renderField = (field: BackendConfigField) => (
    <ConfigField
      key={field.name}
      descriptor={descriptor}
      field={field}
      value={draft.values[field.name]}
      onChange={(value) => setValue(field.name, value)}
      error={errors.fieldErrors[fieldKey(field)]}
      stored={field.secret ? storedSecret(field, saved) : null}
      mustReenter={secretMustBeReentered(descriptor, field, draft, saved)}
    />
  );
  const basicFields = descriptor.fields.filter((field) => !field.advanced);
  const advancedFields = descriptor.fields.filter((field) => field.advanced);
  const showSaved = save.isSuccess && save.variables?.backend_type === backendType && !isEdited;

  return (
    <section className="card" aria-labelledby="backend-heading">
      <h2 id="backend-heading">LLM backend</h2>
      <form onSubmit={submit} noValidate>
        <BackendSelect backends={backends} value={backendType} onChange={choose} error={errors.fieldErrors.backend_type} />

        {basicFields.map(renderField)}

        {advancedFields.length > 0 && (
          <AdvancedOptions hasError={advancedFields.some((field) => errors.fieldErrors[fieldKey(field)])}>
            <div className="field-row">{advancedFields.map(renderField)}</div>
          </AdvancedOptions>
        )}

        <ConnectionTest
          label={label}
          generate={generate}
          onGenerateChange={setGenerate}
          testing={test.testing}
          result={test.result}
          error={test.error}
          generateRequested={test.generateRequested}
          unsaved={saved === undefined || isEdited}
          stale={test.stale}
        />

        <ModelPicker
          label={label}
          models={choices.models}
          loading={choices.loading}
          listError={choices.listError}
          listErrorShownAbove={choices.listErrorShownAbove}
          unknownHint={
            saved ? `Test the connection to list the models of the server in the form.` : `Test the connection to list ${label}'s models.`
          }
          value={draft.defaultModel}
          onChange={setDefaultModel}
          error={errors.fieldErrors[DEFAULT_MODEL_KEY]}
          onRefresh={refreshModels}
          refreshing={choices.refreshing || test.testing}
        />

        <SaveControls
          label={label}
          saving={save.isPending}
          onSave={runSave}
          saved={showSaved}
          savedWithoutModel={!save.data?.default_model}
          hasFieldErrors={errors.hasFieldErrors}
          lastAction={errors.lastAction}
          fieldErrorCount={Object.keys(errors.fieldErrors).length}
          saveError={saveBelongs && save.error && !errors.serverErrorOnField ? save.error : null}
        />
      </form>
    </section>
  );
}
