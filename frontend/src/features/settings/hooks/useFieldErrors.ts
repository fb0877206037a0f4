import { useEffect, useRef, useState } from 'react';
import { ApiError } from '../../../lib/api-client';
import type { BackendDescriptor, SavedBackend } from '../../../types/api';
import { type BackendDraft, DEFAULT_MODEL_KEY, draftErrors, fieldInputId, fieldKey } from '../lib/backendDrafts';

interface FieldErrorsInput {
  descriptor: BackendDescriptor;
  draft: BackendDraft;
  saved: SavedBackend | undefined;
  /** The models of the server in the form (null: not known), to tell a default model it lacks. */
  models: string[] | null;
  /** The server's refusal of the last test or save of these values, when it names a field. */
  serverError: Error | null;
}

/**
 * Each field's problem, keyed like the server's `field`. What the form can see by itself is shown
 * once the user tried to test or save, and then kept current; after a failed try, focus moves to
 * the first field in error once it is on the page (advanced options open first).
 */
export function useFieldErrors({ descriptor, draft, saved, models, serverError }: FieldErrorsInput) {
  const [attempt, setAttempt] = useState<{ action: 'test' | 'save'; count: number } | null>(null);
  const focusTarget = useRef<string | null>(null);

  const clientErrors = draftErrors(descriptor, draft, saved);
  const modelMissing = draft.defaultModel !== '' && models !== null && !models.includes(draft.defaultModel);
  if (modelMissing) {
    clientErrors[DEFAULT_MODEL_KEY] =
      `“${draft.defaultModel}” is not offered by this ${descriptor.label} server: choose one of its models, or test again after loading it.`;
  }
  const serverField = serverError instanceof ApiError ? serverError.field : undefined;
  const fieldErrors: Record<string, string> = {
    ...(attempt !== null ? clientErrors : {}),
    ...(modelMissing ? { [DEFAULT_MODEL_KEY]: clientErrors[DEFAULT_MODEL_KEY] } : {}),
    ...(serverError && serverField ? { [serverField]: serverError.message } : {}),
  };
  const fieldOrder = ['backend_type', ...descriptor.fields.map(fieldKey), DEFAULT_MODEL_KEY];
  const inputIds: Record<string, string> = {
    backend_type: 'backend-type',
    [DEFAULT_MODEL_KEY]: 'default-model',
    ...Object.fromEntries(descriptor.fields.map((field) => [fieldKey(field), fieldInputId(descriptor, field)])),
  };

  useEffect(() => {
    const element = focusTarget.current && document.getElementById(focusTarget.current);
    if (element) {
      element.focus();
      focusTarget.current = null;
    }
  });

  /** Focus goes to the first field of `errors` once it is on the page. */
  const focusFirstError = (errors: Record<string, string>) => {
    const first = fieldOrder.find((key) => errors[key]);
    if (first) focusTarget.current = inputIds[first];
  };

  /** A try to test or save: client-side problems are shown from now on; true when there are none. */
  const check = (action: 'test' | 'save'): boolean => {
    const errors = { ...clientErrors };
    // A test does not need a default model.
    if (action === 'test') delete errors[DEFAULT_MODEL_KEY];
    setAttempt((last) => ({ action, count: (last?.count ?? 0) + 1 }));
    focusFirstError(errors);
    return Object.keys(errors).length === 0;
  };

  return {
    fieldErrors,
    /** What the user last tried: the summary under the form says "Not saved" after a save. */
    lastAction: attempt?.action ?? null,
    hasFieldErrors: fieldOrder.some((key) => fieldErrors[key] && key !== DEFAULT_MODEL_KEY) || (attempt !== null && modelMissing),
    /** The server's error names a field of this form: it is shown there, not again under Save. */
    serverErrorOnField: serverField !== undefined && serverField in inputIds,
    check,
    focusFirstError,
  };
}
