import { hashKey, useQueryClient } from '@tanstack/react-query';
import { authModeQueryOptions } from '../api/get-auth-mode';

/** Everything but the auth mode belongs to one user; a new session must not see the last one's data. */
export function useForgetUserData() {
  const queryClient = useQueryClient();
  const authModeHash = hashKey(authModeQueryOptions().queryKey);
  return () => queryClient.removeQueries({ predicate: ({ queryHash }) => queryHash !== authModeHash });
}
