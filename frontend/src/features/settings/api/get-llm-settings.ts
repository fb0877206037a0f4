import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { LLMSettings } from '../../../types/api';

export function getLLMSettings(): Promise<LLMSettings> {
  return apiJson<LLMSettings>('/api/settings/llm');
}

/** Every saved backend's settings and which one is active. */
export function llmSettingsQueryOptions() {
  return queryOptions({ queryKey: ['settings', 'llm'], queryFn: getLLMSettings });
}

export function useLLMSettings() {
  return useQuery(llmSettingsQueryOptions());
}
