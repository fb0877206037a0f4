// The spec's (§2.3) model of the user's LLM choice. Every wire type is generated from
// backend/openapi.json into api.gen.ts and named in api.ts.

export type BackendType = 'lmstudio' | 'ollama' | 'chatgpt' | 'openai_compatible';

/** The user's LLM choice as the spec models it, with the fourth backend type. */
export interface LLMConfig {
  backendType: BackendType;
  lmstudio?: { url: string };
  ollama?: { url: string };
  chatgpt?: { apiKey: string };
  openai_compatible?: { baseUrl: string; apiKey?: string };
  defaultModel?: string;
}
