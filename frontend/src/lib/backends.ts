import type { BackendType } from '../types/LLMTypes';

export const BACKEND_TYPES: BackendType[] = ['lmstudio', 'ollama', 'chatgpt'];

export const BACKEND_LABELS: Record<BackendType, string> = {
  lmstudio: 'LM Studio',
  ollama: 'Ollama',
  chatgpt: 'ChatGPT',
  openai_compatible: 'OpenAI-compatible server',
};

export function isBackendType(value: string | null | undefined): value is BackendType {
  return typeof value === 'string' && value in BACKEND_LABELS;
}

/** A backend type in words; a type this bundle does not know yet is shown as it is. */
export function backendLabel(backendType: string): string {
  return isBackendType(backendType) ? BACKEND_LABELS[backendType] : backendType;
}

export const DEFAULT_URLS = {
  lmstudio: 'http://localhost:1234',
  ollama: 'http://localhost:11434',
} as const;

export const DEFAULT_BASE_URLS = {
  chatgpt: 'https://api.openai.com/v1',
  openai_compatible: 'http://localhost:8080/v1',
} as const;

/** The backend's defaults (API.md); a local model may need minutes to load, hence the long first-token wait. */
export function defaultTimeouts(backendType: BackendType) {
  return { connect_timeout: 5, first_token_timeout: backendType === 'chatgpt' ? 120 : 300, idle_timeout: 60 };
}
