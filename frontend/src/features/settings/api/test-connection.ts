import { useMutation, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { TestConnectionRequest, TestConnectionResult } from '../../../types/api';
import { llmStatusQueryOptions } from './get-llm-status';

/** Tests a backend with possibly unsaved values; a connection failure is a 200 with status "error". */
export function testConnection(request: TestConnectionRequest): Promise<TestConnectionResult> {
  return apiJson<TestConnectionResult>('/api/settings/llm/test', { method: 'POST', body: request });
}

/** A test of the saved backend updates its "last test" at once, not at the next status poll. */
export function useTestConnection() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: testConnection,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: llmStatusQueryOptions().queryKey }),
  });
}
