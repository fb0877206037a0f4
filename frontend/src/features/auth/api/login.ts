import { useMutation } from '@tanstack/react-query';
import { apiJson, setToken } from '../../../lib/api-client';
import type { LoginRequest, LoginResponse } from '../../../types/api';
import { useForgetUserData } from '../hooks/useForgetUserData';

export function login(credentials: LoginRequest): Promise<LoginResponse> {
  return apiJson<LoginResponse>('/api/auth/login', { method: 'POST', body: credentials });
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
