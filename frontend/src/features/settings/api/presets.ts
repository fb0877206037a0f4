// /api/settings/presets: the user's named sampler presets, kept on the server.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { SamplerPreset, SamplerPresetSettings } from '../../../types/api';

const KEY = ['settings', 'presets'];

export function usePresets(enabled: boolean) {
  return useQuery({ queryKey: KEY, queryFn: () => apiJson<{ presets: SamplerPreset[] }>('/api/settings/presets'), staleTime: 60_000, enabled });
}

/** The preset calls; each refreshes the list once the server answered. */
export function usePresetActions() {
  const queryClient = useQueryClient();
  const refreshed = async <T>(call: Promise<T>): Promise<T> => {
    const result = await call;
    await queryClient.invalidateQueries({ queryKey: KEY });
    return result;
  };
  return {
    save: (name: string, settings: SamplerPresetSettings) =>
      refreshed(apiJson<SamplerPreset>('/api/settings/presets', { method: 'POST', body: { name, settings } })),
    rename: (id: number, name: string) => refreshed(apiJson<SamplerPreset>(`/api/settings/presets/${id}`, { method: 'PATCH', body: { name } })),
    remove: (id: number) => refreshed(apiJson<undefined>(`/api/settings/presets/${id}`, { method: 'DELETE' })),
    importAll: (presets: unknown) => refreshed(apiJson<{ presets: SamplerPreset[] }>('/api/settings/presets/import', { method: 'POST', body: { presets } })),
  };
}
