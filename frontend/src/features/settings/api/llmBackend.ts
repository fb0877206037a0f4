// The spec's llmBackend service (§2.2): what the server says about LLM backends — each type's
// descriptor (label, form fields), a connection test, the models a backend offers and the active
// backend's status. One operation each: its fetcher, its queryOptions and its hook.
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type {
  BackendDescriptor,
  BackendList,
  LLMStatus,
  ModelsResponse,
  TestConnectionRequest,
  TestConnectionResult,
} from '../../../types/api';

// -- GET /api/settings/llm/backends ----------------------------------------------------------

export function getBackends(): Promise<BackendList> {
  return apiJson<BackendList>('/api/settings/llm/backends');
}

/** Every backend type with its config fields, in dropdown order; they change only with the server. */
export function backendsQueryOptions() {
  return queryOptions({ queryKey: ['settings', 'llm', 'backends'], queryFn: getBackends, staleTime: Infinity });
}

export function useBackends() {
  return useQuery(backendsQueryOptions());
}

/** A backend type in words, from the served descriptors; a type they do not name is shown as it is. */
export function backendLabel(backends: BackendDescriptor[] | undefined, backendType: string): string {
  return backends?.find((backend) => backend.type === backendType)?.label ?? backendType;
}

/** `backendLabel` with the served descriptors (the raw type until they arrive). */
export function useBackendLabel(): (backendType: string) => string {
  const backends = useBackends().data?.backends;
  return (backendType) => backendLabel(backends, backendType);
}

// -- GET /api/settings/llm/status ------------------------------------------------------------

const STATUS_POLL_MS = 5000;

export function getLLMStatus(): Promise<LLMStatus> {
  return apiJson<LLMStatus>('/api/settings/llm/status');
}

/** The active backend's state, polled while the page is visible; a hidden tab stops polling. */
export function llmStatusQueryOptions() {
  return queryOptions({
    queryKey: ['settings', 'llm', 'status'],
    queryFn: getLLMStatus,
    // Fresh until the next poll: a second component showing the status does not ask again.
    staleTime: STATUS_POLL_MS,
    refetchInterval: STATUS_POLL_MS,
    refetchIntervalInBackground: false,
  });
}

export function useLLMStatus() {
  return useQuery(llmStatusQueryOptions());
}

// -- POST /api/settings/llm/test -------------------------------------------------------------

/** Tests a backend with possibly unsaved values; a connection failure is a 200 with status "error". */
export function testConnection(request: TestConnectionRequest): Promise<TestConnectionResult> {
  return apiJson<TestConnectionResult>('/api/settings/llm/test', { method: 'POST', body: request });
}

/** A test of the saved backend updates its "last test" at once, not at the next status poll. */
export function useTestConnection() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: testConnection,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: llmStatusQueryOptions().queryKey }),
  });
}

// -- GET /api/settings/llm/models ------------------------------------------------------------

export function getModels(backendType: string, { refresh = false } = {}): Promise<ModelsResponse> {
  const query = new URLSearchParams({ backend_type: backendType });
  if (refresh) query.set('refresh', '1');
  return apiJson<ModelsResponse>(`/api/settings/llm/models?${query}`);
}

const RETRY_FAILED_LIST_MS = 5000;

/**
 * A saved backend's models. A list changes rarely, so "Refresh Models" is the way to ask again;
 * a failed listing is retried every few seconds, so it clears once the backend is back.
 */
export function modelsQueryOptions(backendType: string) {
  return queryOptions({
    queryKey: ['settings', 'llm', 'models', backendType],
    queryFn: () => getModels(backendType),
    staleTime: 60_000,
    refetchInterval: (query) => (query.state.status === 'error' ? RETRY_FAILED_LIST_MS : false),
  });
}

/** Off for a backend that was never saved (the server has nothing to ask). */
export function useModels(backendType: string, enabled: boolean) {
  return useQuery({ ...modelsQueryOptions(backendType), enabled });
}

/** Asks the backend again instead of the server's cached list, and replaces the cached query. */
export function useRefreshModels() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (backendType: string) => getModels(backendType, { refresh: true }),
    onSuccess: (models) => queryClient.setQueryData(modelsQueryOptions(models.backend_type).queryKey, models),
  });
}
