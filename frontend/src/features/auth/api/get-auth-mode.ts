import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { AuthModeResponse } from '../../../types/api';

export function getAuthMode(): Promise<AuthModeResponse> {
  return apiJson<AuthModeResponse>('/api/auth/mode');
}

/** The server's mode does not change while it runs. */
export function authModeQueryOptions() {
  return queryOptions({ queryKey: ['auth', 'mode'], queryFn: getAuthMode, staleTime: Infinity });
}

export function useAuthMode() {
  return useQuery(authModeQueryOptions());
}
