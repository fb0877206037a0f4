import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { CurrentUser } from '../../../types/api';

export function getCurrentUser(): Promise<CurrentUser> {
  return apiJson<CurrentUser>('/api/auth/me');
}

export function currentUserQueryOptions() {
  return queryOptions({ queryKey: ['auth', 'me'], queryFn: getCurrentUser });
}

/** Who is signed in; `enabled` false asks nothing (single-user mode has no one to ask about). */
export function useCurrentUser(enabled = true) {
  return useQuery({ ...currentUserQueryOptions(), enabled });
}
