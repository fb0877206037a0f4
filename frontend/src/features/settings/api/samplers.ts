// GET /api/settings/llm/samplers: where the active backend takes each sampling setting, and which it cannot take.
import { useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { SamplerReport } from '../../../types/api';

/** Asked again when the active backend changes; an OpenAI-compatible server is asked what it is once. */
export function useSamplerNames(backendType: string | null) {
  return useQuery({
    queryKey: ['settings', 'llm', 'samplers', backendType],
    queryFn: () => apiJson<SamplerReport>('/api/settings/llm/samplers'),
    enabled: backendType !== null,
    staleTime: 60_000,
    retry: false,
  });
}
