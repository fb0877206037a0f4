import type { BackendConfigRequest, SaveSettingsRequest } from '../../../types/api';
import type { LLMConfig } from '../../../types/LLMTypes';

type TimeoutOptions = Pick<BackendConfigRequest, 'connect_timeout' | 'first_token_timeout' | 'idle_timeout'>;

/** What LLMConfig does not carry: the OpenAI-style backends' advanced fields and the timeouts. */
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
    case 'openai_compatible': {
      const apiKey = config.openai_compatible?.apiKey?.trim();
      const url = config.openai_compatible?.baseUrl.trim();
      return { ...timeouts, ...(url ? { base_url: url } : {}), ...(apiKey ? { api_key: apiKey } : {}) };
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

