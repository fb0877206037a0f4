// What the user typed in the Settings form and has not saved yet, kept outside the page so that
// leaving it (or reloading the tab) loses nothing. Secrets stay in memory only: a typed API key
// never lands in the browser's storage.
import { subscribeToToken } from '../../../lib/api-client';

/** A backend's unsaved edits: field values by name, and the default model, each only once edited. */
export interface DraftEdits {
  values: Record<string, string>;
  defaultModel?: string;
}

/** The backend chosen in the dropdown (when the user chose one) and each backend's edits. */
export interface Drafts {
  selected?: string;
  backends: Record<string, DraftEdits>;
}

const EMPTY: Drafts = { backends: {} };

const STORAGE_KEY = 'taleweaverSettingsDrafts';
const listeners = new Set<() => void>();
let drafts: Drafts = load();
// `backendType.fieldName` of each secret typed so far.
const secrets = new Set<string>();

function load(): Drafts {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Drafts | null;
    return stored && typeof stored.backends === 'object' ? stored : EMPTY;
  } catch {
    return EMPTY;
  }
}

function persist(): void {
  const backends = Object.fromEntries(
    Object.entries(drafts.backends).map(([backendType, edits]) => [
      backendType,
      { ...edits, values: Object.fromEntries(Object.entries(edits.values).filter(([name]) => !secrets.has(`${backendType}.${name}`))) },
    ]),
  );
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ ...drafts, backends }));
}

function update(next: Drafts): void {
  drafts = next;
  persist();
  listeners.forEach((listener) => listener());
}

export function getDrafts(): Drafts {
  return drafts;
}

export function subscribeToDrafts(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function selectBackend(backendType: string): void {
  update({ ...drafts, selected: backendType });
}

/** Records an edit; a value marked secret is kept in memory only. */
export function editDraft(backendType: string, patch: Partial<DraftEdits>, { secret = false } = {}): void {
  if (secret) Object.keys(patch.values ?? {}).forEach((name) => secrets.add(`${backendType}.${name}`));
  const current = drafts.backends[backendType] ?? { values: {} };
  update({
    ...drafts,
    backends: { ...drafts.backends, [backendType]: { ...current, ...patch, values: { ...current.values, ...patch.values } } },
  });
}

/** Forgets a backend's edits, e.g. once they are saved and the form shows what the server stored. */
export function discardDraft(backendType: string): void {
  const backends = { ...drafts.backends };
  delete backends[backendType];
  update({ ...drafts, backends });
}

/** Forgets every draft: they belong to the signed-in user. */
export function clearDrafts(): void {
  sessionStorage.removeItem(STORAGE_KEY);
  drafts = EMPTY;
  listeners.forEach((listener) => listener());
}

subscribeToToken(clearDrafts);
