import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSyncExternalStore } from 'react';
import type { AuthModeResponse, CurrentUser, LoginResponse } from '../types/LLMTypes';
import { apiJson, getToken, setToken, subscribeToToken } from './api';

export const authKeys = {
  mode: ['auth', 'mode'] as const,
  me: ['auth', 'me'] as const,
};

export function getAuthMode(): Promise<AuthModeResponse> {
  return apiJson<AuthModeResponse>('/api/auth/mode');
}

export function login(credentials: { username: string; password: string }): Promise<LoginResponse> {
  return apiJson<LoginResponse>('/api/auth/login', { method: 'POST', body: credentials });
}

export function logout(): Promise<void> {
  return apiJson<void>('/api/auth/logout', { method: 'POST' });
}

export function getCurrentUser(): Promise<CurrentUser> {
  return apiJson<CurrentUser>('/api/auth/me');
}

export function useAuthMode() {
  return useQuery({ queryKey: authKeys.mode, queryFn: getAuthMode, staleTime: Infinity });
}

export function useCurrentUser() {
  return useQuery({ queryKey: authKeys.me, queryFn: getCurrentUser });
}

/** The login token; changes (login, logout, a 401) re-render the app. */
export function useToken(): string | null {
  return useSyncExternalStore(subscribeToToken, getToken);
}

/** Everything but the auth mode belongs to one user; a new session must not see the last one's data. */
function useForgetUserData() {
  const queryClient = useQueryClient();
  return () =>
    queryClient.removeQueries({
      predicate: ({ queryKey }) => !(queryKey[0] === authKeys.mode[0] && queryKey[1] === authKeys.mode[1]),
    });
}

export function useLogin() {
  const forgetUserData = useForgetUserData();
  return useMutation({
    mutationFn: login,
    onSuccess: ({ token }) => {
      forgetUserData();
      setToken(token);
    },
  });
}

/** Ends the session locally even when the server cannot be told. */
export function useLogout() {
  const forgetUserData = useForgetUserData();
  return useMutation({
    mutationFn: logout,
    onSettled: () => {
      setToken(null);
      forgetUserData();
    },
  });
}
