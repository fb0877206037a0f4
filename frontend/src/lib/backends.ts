import type { BackendType } from '../types/LLMTypes';

export const BACKEND_TYPES: BackendType[] = ['lmstudio', 'ollama', 'chatgpt'];

export const BACKEND_LABELS: Record<BackendType, string> = {
  lmstudio: 'LM Studio',
  ollama: 'Ollama',
  chatgpt: 'ChatGPT',
};

export const DEFAULT_URLS = {
  lmstudio: 'http://localhost:1234',
  ollama: 'http://localhost:11434',
} as const;

export const DEFAULT_CHATGPT_BASE_URL = 'https://api.openai.com/v1';

/** The backend's defaults (API.md); a local model may need minutes to load, hence the long first-token wait. */
export function defaultTimeouts(backendType: BackendType) {
  return { connect_timeout: 5, first_token_timeout: backendType === 'chatgpt' ? 120 : 300, idle_timeout: 60 };
}
