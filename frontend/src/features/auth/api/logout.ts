import { useMutation } from '@tanstack/react-query';
import { apiJson, setToken } from '../../../lib/api-client';
import { useForgetUserData } from '../hooks/useForgetUserData';

export function logout(): Promise<void> {
  return apiJson<void>('/api/auth/logout', { method: 'POST' });
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
