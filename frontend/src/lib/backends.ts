import type { BackendType } from '../types/LLMTypes';

// The spec's backend types in words, for pages that name who wrote a story. The Settings page
// takes labels, fields and defaults from the server's descriptors (GET /api/settings/llm/backends).
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
