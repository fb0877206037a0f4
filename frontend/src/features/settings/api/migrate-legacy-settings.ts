// One-time migration from the previous version (DESIGN §6).
import { ApiError } from '../../../lib/api-client';
import type { LLMSettings } from '../../../types/api';
import { buildSettingsRequest } from '../lib/settingsRequest';
import { saveLLMSettings } from './save-llm-settings';

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
