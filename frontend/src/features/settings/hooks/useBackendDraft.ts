import { useSyncExternalStore } from 'react';
import type { BackendDescriptor, LLMSettings } from '../../../types/api';
import { type BackendDraft, savedDraft } from '../lib/backendDrafts';
import { discardDraft, editDraft, getDrafts, selectBackend, subscribeToDrafts } from '../lib/draftStore';

/**
 * The backend chosen in the form and its draft: the saved values with the user's unsaved edits
 * on top. The edits live in the draft store, so leaving the page and coming back keeps them.
 */
export function useBackendDraft(backends: BackendDescriptor[], settings: LLMSettings) {
  const drafts = useSyncExternalStore(subscribeToDrafts, getDrafts);
  const chosen =
    backends.find((backend) => backend.type === drafts.selected) ??
    backends.find((backend) => backend.type === settings.backend_type) ??
    backends[0];
  const saved = settings.backends[chosen.type];
  const stored = savedDraft(chosen, saved);
  const edits = drafts.backends[chosen.type];
  const draft: BackendDraft = {
    values: { ...stored.values, ...edits?.values },
    defaultModel: edits?.defaultModel ?? stored.defaultModel,
  };
  const isEdited = JSON.stringify(draft) !== JSON.stringify(stored);

  return {
    descriptor: chosen,
    saved,
    draft,
    isEdited,
    choose: selectBackend,
    setValue: (name: string, value: string) =>
      editDraft(chosen.type, { values: { [name]: value } }, { secret: chosen.fields.some((field) => field.name === name && field.secret) }),
    setDefaultModel: (defaultModel: string) => editDraft(chosen.type, { values: {}, defaultModel }),
    /** After a save: show what the server stored (normalised URL, blank key field). */
    discardEdits: (backendType: string) => discardDraft(backendType),
  };
}
