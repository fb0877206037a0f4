import { type QueryClient, useMutation, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { LLMSettings, SaveSettingsRequest } from '../../../types/api';
import { llmSettingsQueryOptions } from './get-llm-settings';
import { llmStatusQueryOptions } from './get-llm-status';
import { modelsQueryOptions } from './get-models';

export function saveLLMSettings(request: SaveSettingsRequest): Promise<LLMSettings> {
  return apiJson<LLMSettings>('/api/settings/llm', { method: 'POST', body: request });
}

/**
 * Puts freshly saved settings in the cache. The status and the saved backend's models depend on
 * them: the status refetches, and the model list is dropped (it may be another server's) and
 * asked for again.
 */
export async function applySavedSettings(queryClient: QueryClient, settings: LLMSettings): Promise<void> {
  queryClient.setQueryData(llmSettingsQueryOptions().queryKey, settings);
  const refetches = [queryClient.invalidateQueries({ queryKey: llmStatusQueryOptions().queryKey })];
  if (settings.backend_type) {
    refetches.push(queryClient.resetQueries({ queryKey: modelsQueryOptions(settings.backend_type).queryKey }));
  }
  await Promise.all(refetches);
}

/** Saves a backend's settings and makes it the active one. */
export function useSaveLLMSettings() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: saveLLMSettings,
    onSuccess: (settings) => applySavedSettings(queryClient, settings),
  });
}
