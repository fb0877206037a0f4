import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { BackendList } from '../../../types/api';

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
