import { type QueryClient, queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type {
  BackendConfigRequest,
  LLMConfig,
  LLMSettings,
  SaveSettingsRequest,
  TimeoutOptions,
} from '../types/LLMTypes';
import { ApiError, apiJson } from './api';

export const settingsKeys = {
  all: ['settings', 'llm'] as const,
};

export function getLLMSettings(): Promise<LLMSettings> {
  return apiJson<LLMSettings>('/api/settings/llm');
}

export function saveLLMSettings(request: SaveSettingsRequest): Promise<LLMSettings> {
  return apiJson<LLMSettings>('/api/settings/llm', { method: 'POST', body: request });
}

export const llmSettingsQuery = queryOptions({ queryKey: settingsKeys.all, queryFn: getLLMSettings });

export function useLLMSettings() {
  return useQuery(llmSettingsQuery);
}

/** Puts freshly saved settings in the cache; status and model lists depend on them, so they refetch. */
export function applySavedSettings(queryClient: QueryClient, settings: LLMSettings): Promise<void> {
  queryClient.setQueryData(settingsKeys.all, settings);
  return queryClient.invalidateQueries({
    queryKey: settingsKeys.all,
    predicate: (query) => query.queryKey.length > settingsKeys.all.length,
  });
}

/** Saves a backend's settings and makes it the active one. */
export function useSaveLLMSettings() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: saveLLMSettings,
    onSuccess: (settings) => applySavedSettings(queryClient, settings),
  });
}

/** What LLMConfig does not carry: ChatGPT's advanced fields and the timeouts. */
export interface ConnectionOptions extends TimeoutOptions {
  baseUrl?: string;
  organization?: string;
}

function configRequest(config: LLMConfig, { baseUrl, organization, ...timeouts }: ConnectionOptions): BackendConfigRequest {
  switch (config.backendType) {
    case 'lmstudio':
    case 'ollama': {
      const url = config[config.backendType]?.url.trim();
      return { ...timeouts, ...(url ? { url } : {}) };
    }
    case 'chatgpt': {
      // A blank key is left out so the server keeps the stored one.
      const apiKey = config.chatgpt?.apiKey.trim();
      return {
        ...timeouts,
        ...(apiKey ? { api_key: apiKey } : {}),
        ...(baseUrl?.trim() ? { base_url: baseUrl.trim() } : {}),
        ...(organization?.trim() ? { organization: organization.trim() } : {}),
      };
    }
  }
}

/** The POST /api/settings/llm body for a configuration. */
export function buildSettingsRequest(config: LLMConfig, options: ConnectionOptions = {}): SaveSettingsRequest {
  return {
    backend_type: config.backendType,
    config: configRequest(config, options),
    default_model: config.defaultModel?.trim() || null,
  };
}

// ---- One-time migration from the previous version (DESIGN §6) -----------------------------

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
