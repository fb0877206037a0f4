import { useSyncExternalStore } from 'react';
import { getToken, subscribeToToken } from '../../../lib/api-client';

/** The login token; changes (login, logout, a 401) re-render the app. */
export function useToken(): string | null {
  return useSyncExternalStore(subscribeToToken, getToken);
}
