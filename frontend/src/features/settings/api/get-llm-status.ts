import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { LLMStatus } from '../../../types/api';

const STATUS_POLL_MS = 5000;

export function getLLMStatus(): Promise<LLMStatus> {
  return apiJson<LLMStatus>('/api/settings/llm/status');
}

/** Polled while the page is visible; a hidden tab stops polling. */
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
