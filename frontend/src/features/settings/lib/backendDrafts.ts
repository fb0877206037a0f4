import type { BackendConfigField, BackendDescriptor, SaveSettingsRequest, SavedBackend } from '../../../types/api';

/** What the form shows for one backend: each field's text by field name, and the default model. */
export interface BackendDraft {
  values: Record<string, string>;
  defaultModel: string;
}

/** Where a field's value goes in a request, and where the server names it in a validation error. */
export function fieldKey(field: BackendConfigField): string {
  return `config.${field.name}`;
}

/** The id of a field's input, so a failed Save can move focus to it. */
export function fieldInputId(descriptor: BackendDescriptor, field: BackendConfigField): string {
  return `${descriptor.type}-${field.name}`.replaceAll('_', '-');
}

export const DEFAULT_MODEL_KEY = 'default_model';

const MIN_SECONDS = 0.1;
const MAX_SECONDS = 3600;

function savedValue(field: BackendConfigField, saved: SavedBackend | undefined): string {
  // A secret never comes back from the server: its field starts blank, meaning "keep the stored one".
  if (field.secret) return '';
  const config = saved?.config as Record<string, unknown> | undefined;
  const value = config ? config[field.name] : field.default;
  return value === null || value === undefined ? '' : String(value);
}

/** A backend's draft as the server has it saved, or its defaults when it was never saved. */
export function savedDraft(descriptor: BackendDescriptor, saved: SavedBackend | undefined): BackendDraft {
  return {
    values: Object.fromEntries(descriptor.fields.map((field) => [field.name, savedValue(field, saved)])),
    defaultModel: saved?.default_model ?? '',
  };
}

/** The masked form of a stored secret (`<name>_masked`), or null when none is stored. */
export function storedSecret(field: BackendConfigField, saved: SavedBackend | undefined): string | null {
  const config = saved?.config as Record<string, unknown> | undefined;
  if (!config || config[`has_${field.name}`] !== true) return null;
  const masked = config[`${field.name}_masked`];
  return typeof masked === 'string' ? masked : 'a stored key';
}

/** The fields that say which server a stored secret is for: a key is only sent where it was saved for. */
function addressFields(descriptor: BackendDescriptor): BackendConfigField[] {
  return descriptor.fields.filter((field) => field.kind === 'url' || field.kind === 'text');
}

/** The server the draft points at, to tell whether a model list or a stored key belongs to it. */
export function addressOf(descriptor: BackendDescriptor, draft: BackendDraft): string {
  return JSON.stringify(addressFields(descriptor).map((field) => draft.values[field.name]?.trim() ?? ''));
}

/** The draft's whole configuration, to tell whether a test result belongs to what the form holds. */
export function connectionOf(descriptor: BackendDescriptor, draft: BackendDraft): string {
  return JSON.stringify(descriptor.fields.map((field) => draft.values[field.name]?.trim() ?? ''));
}

/** True when a stored secret may not be used: the draft points at another address than it was saved for. */
export function secretMustBeReentered(
  descriptor: BackendDescriptor,
  field: BackendConfigField,
  draft: BackendDraft,
  saved: SavedBackend | undefined,
): boolean {
  return (
    field.secret &&
    storedSecret(field, saved) !== null &&
    draft.values[field.name].trim() === '' &&
    addressOf(descriptor, draft) !== addressOf(descriptor, savedDraft(descriptor, saved))
  );
}

export const REENTER_KEY_MESSAGE = 'Enter the key again: a saved key is only sent to the address it was saved for.';

function fieldError(
  descriptor: BackendDescriptor,
  field: BackendConfigField,
  draft: BackendDraft,
  saved: SavedBackend | undefined,
): string | undefined {
  const value = draft.values[field.name].trim();
  if (field.secret) {
    if (secretMustBeReentered(descriptor, field, draft, saved)) return REENTER_KEY_MESSAGE;
    if (field.required && value === '' && storedSecret(field, saved) === null) return `Enter the ${field.label}.`;
    return undefined;
  }
  if (field.kind === 'seconds' && (value === '' || !(Number(value) >= MIN_SECONDS && Number(value) <= MAX_SECONDS))) {
    const usual = field.default === null ? '' : ` (default ${field.default})`;
    return `${field.label}: a number of seconds from ${MIN_SECONDS} to ${MAX_SECONDS}${usual}.`;
  }
  if (value === '') return field.required ? `Enter the ${field.label}.` : undefined;
  if (field.kind === 'url' && !/^https?:\/\/[^\s/]+/i.test(value)) {
    return `Enter an address starting with http:// or https://, e.g. ${field.placeholder ?? field.default ?? 'http://localhost:1234'}.`;
  }
  return undefined;
}

/** Every problem the form can see by itself, keyed like the server's `field`, all at once. */
export function draftErrors(
  descriptor: BackendDescriptor,
  draft: BackendDraft,
  saved: SavedBackend | undefined,
): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const field of descriptor.fields) {
    const error = fieldError(descriptor, field, draft, saved);
    if (error) errors[fieldKey(field)] = error;
  }
  return errors;
}

/** The request config: blank fields are left out (a blank secret keeps the stored one), seconds are numbers. */
export function draftConfig(descriptor: BackendDescriptor, draft: BackendDraft): SaveSettingsRequest['config'] {
  const config: Record<string, string | number> = {};
  for (const field of descriptor.fields) {
    const value = draft.values[field.name].trim();
    if (value === '') continue;
    config[field.name] = field.kind === 'seconds' ? Number(value) : value;
  }
  return config;
}

/** The save request for a draft; the connection test sends its `backend_type` and `config`. */
export function draftRequest(descriptor: BackendDescriptor, draft: BackendDraft): SaveSettingsRequest {
  return {
    backend_type: descriptor.type,
    config: draftConfig(descriptor, draft),
    default_model: draft.defaultModel.trim() || null,
  };
}
