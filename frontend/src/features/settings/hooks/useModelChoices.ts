import type { BackendDescriptor, SavedBackend } from '../../../types/api';
import { useLLMStatus, useModels, useRefreshModels } from '../api/llmBackend';
import { addressOf, type BackendDraft, savedDraft } from '../lib/backendDrafts';

/**
 * The models the default model is chosen from: those of the server the form points at, never
 * another server's. A connection test's list wins; else, at the saved address, the saved
 * backend's list (refreshed on demand); else none until a test.
 */
export function useModelChoices(descriptor: BackendDescriptor, draft: BackendDraft, saved: SavedBackend | undefined, testedModels: string[] | null) {
  const backendType = descriptor.type;
  const refresh = useRefreshModels();
  const status = useLLMStatus();
  const atSavedAddress = saved !== undefined && addressOf(descriptor, draft) === addressOf(descriptor, savedDraft(descriptor, saved));
  const savedModels = useModels(backendType, atSavedAddress && testedModels === null);
  const fromSaved = testedModels === null && atSavedAddress;
  const refreshError = refresh.variables === backendType ? refresh.error : null;
  const listError = fromSaved ? (refreshError ?? savedModels.error) : null;
  const statusError = status.data?.backend_type === backendType ? status.data.error : null;

  return {
    /** null: not known for the server in the form. */
    models: testedModels ?? (atSavedAddress ? (savedModels.data?.models ?? null) : null),
    loading: fromSaved && savedModels.isFetching,
    listError,
    /** The status panel already shows the same failure in full. */
    listErrorShownAbove: listError !== null && statusError !== null && listError.message === statusError,
    atSavedAddress,
    refreshing: refresh.isPending && refresh.variables === backendType,
    /** Asks the saved backend for its list again. */
    refreshSaved: (onRefreshed: () => void) => refresh.mutate(backendType, { onSuccess: onRefreshed }),
  };
}
