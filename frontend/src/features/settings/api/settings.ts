// The spec's settings service (§2.2): the user's LLM settings live on the server, per backend, and
// one is active. Read and saved here; the previous version's localStorage settings are moved to
// the server once (DESIGN §6). One operation each: its fetcher, its queryOptions and its hook.
import { type QueryClient, queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { ApiError, apiJson } from '../../../lib/api-client';
import type { LLMSettings, SaveSettingsRequest } from '../../../types/api';
import { buildSettingsRequest } from '../lib/settingsRequest';
import { llmStatusQueryOptions, modelsQueryOptions } from './llmBackend';

// -- GET /api/settings/llm -------------------------------------------------------------------

export function getLLMSettings(): Promise<LLMSettings> {
  return apiJson<LLMSettings>('/api/settings/llm');
}

/** Every saved backend's settings and which one is active. */
export function llmSettingsQueryOptions() {
  return queryOptions({ queryKey: ['settings', 'llm'], queryFn: getLLMSettings });
}

export function useLLMSettings() {
  return useQuery(llmSettingsQueryOptions());
}

// -- POST /api/settings/llm ------------------------------------------------------------------

export function saveLLMSettings(request: SaveSettingsRequest): Promise<LLMSettings> {
  return apiJson<LLMSettings>('/api/settings/llm', { method: 'POST', body: request });
}

/**
 * Puts freshly saved settings in the cache. The status and the saved backend's models depend on
 * them: the status refetches, and the model list is dropped (it may be another server's) and
 * asked for again.
 */
export async function applySavedSettings(queryClient: QueryClient, settings: LLMSettings): Promise<void> {
  queryClient.setQueryData(llmSettingsQueryOptions().queryKey, settings);
  const refetches = [queryClient.invalidateQueries({ queryKey: llmStatusQueryOptions().queryKey })];
  if (settings.backend_type) {
    refetches.push(queryClient.resetQueries({ queryKey: modelsQueryOptions(settings.backend_type).queryKey }));
  }
  await Promise.all(refetches);
}

/** Saves a backend's settings and makes it the active one. */
export function useSaveLLMSettings() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: saveLLMSettings,
    onSuccess: (settings) => applySavedSettings(queryClient, settings),
  });
}

// -- The one-time move of localStorage["lmstudioSettings"] to the server -----------------------

const LEGACY_SETTINGS_KEY = 'lmstudioSettings';

function parseLegacySettings(raw: string): { url: string; model?: string } | null {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return null;
    const { url, model } = value as Record<string, unknown>;
    if (typeof url !== 'string' || url.trim() === '') return null;
    return { url, model: typeof model === 'string' ? model : undefined };
  } catch {
    return null;
  }
}

/**
 * Moves the LM Studio settings the previous version kept in localStorage to the server, unless
 * the server already has settings. Returns the saved settings when it posted them.
 */
export async function migrateLegacySettings(current: LLMSettings): Promise<LLMSettings | null> {
  const raw = localStorage.getItem(LEGACY_SETTINGS_KEY);
  if (raw === null) return null;

  const legacy = parseLegacySettings(raw);
  if (legacy === null || current.backend_type !== null) {
    localStorage.removeItem(LEGACY_SETTINGS_KEY);
    return null;
  }
  try {
    const saved = await saveLLMSettings(
      buildSettingsRequest({ backendType: 'lmstudio', lmstudio: { url: legacy.url }, defaultModel: legacy.model }),
    );
    localStorage.removeItem(LEGACY_SETTINGS_KEY);
    return saved;
  } catch (error) {
    // A 400 means the server will never accept these values; any other failure is retried next load.
    if (error instanceof ApiError && error.status === 400) localStorage.removeItem(LEGACY_SETTINGS_KEY);
    throw error;
  }
}

/** Runs the one-time migration when the signed-in app first mounts. */
export function useLegacySettingsMigration(): void {
  const queryClient = useQueryClient();
  // StrictMode runs mount effects twice but keeps refs, so this guard makes it one POST.
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    queryClient
      .fetchQuery(llmSettingsQueryOptions())
      .then(migrateLegacySettings)
      .then((saved) => saved && applySavedSettings(queryClient, saved))
      // Failures leave the old key for the next load; the pages report server problems themselves.
      .catch(() => undefined);
  }, [queryClient]);
}
