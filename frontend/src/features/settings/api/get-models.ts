import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { ModelsResponse } from '../../../types/api';

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
