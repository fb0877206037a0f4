import type { SaveSettingsRequest } from '../../../types/api';
import type { LLMConfig } from '../../../types/LLMTypes';

/** LLMConfig's name of a config field as the server (and its descriptors) name it: `apiKey` → `api_key`. */
function wireName(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * The POST /api/settings/llm body for a configuration in the spec's shape. A blank value is left
 * out, so the server keeps what it has (for a key: the stored one).
 */
export function buildSettingsRequest(config: LLMConfig): SaveSettingsRequest {
  const values: Record<string, string | undefined> = config[config.backendType] ?? {};
  const fields = Object.entries(values).flatMap(([name, value]) => (value?.trim() ? [[wireName(name), value.trim()]] : []));
  return {
    backend_type: config.backendType,
    config: Object.fromEntries(fields),
    default_model: config.defaultModel?.trim() || null,
  };
}
