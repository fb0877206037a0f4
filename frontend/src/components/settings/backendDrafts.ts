import { DEFAULT_CHATGPT_BASE_URL, DEFAULT_URLS, defaultTimeouts } from '../../lib/backends';
import { buildSettingsRequest } from '../../services/settings';
import type { BackendType, LLMConfig, LLMSettings, SaveSettingsRequest, Timeouts } from '../../types/LLMTypes';

/** What the user has typed for one backend; inputs hold strings, the request gets numbers. */
export interface BackendDraft {
  url: string;
  /** Blank keeps the stored key. */
  apiKey: string;
  baseUrl: string;
  organization: string;
  connectTimeout: string;
  firstTokenTimeout: string;
  idleTimeout: string;
  defaultModel: string;
}

export type BackendDrafts = Record<BackendType, BackendDraft>;

function timeoutDraft({ connect_timeout, first_token_timeout, idle_timeout }: Timeouts) {
  return {
    connectTimeout: String(connect_timeout),
    firstTokenTimeout: String(first_token_timeout),
    idleTimeout: String(idle_timeout),
  };
}

/** A backend's draft as the server has it saved, or the defaults when it was never saved. */
export function savedDraft(backendType: BackendType, settings: LLMSettings): BackendDraft {
  const blank = { url: '', apiKey: '', baseUrl: '', organization: '' };
  if (backendType === 'chatgpt') {
    const saved = settings.backends.chatgpt;
    return {
      ...blank,
      baseUrl: saved?.config.base_url ?? DEFAULT_CHATGPT_BASE_URL,
      organization: saved?.config.organization ?? '',
      ...timeoutDraft(saved?.config ?? defaultTimeouts(backendType)),
      defaultModel: saved?.default_model ?? '',
    };
  }
  const saved = settings.backends[backendType];
  return {
    ...blank,
    url: saved?.config.url ?? DEFAULT_URLS[backendType],
    ...timeoutDraft(saved?.config ?? defaultTimeouts(backendType)),
    defaultModel: saved?.default_model ?? '',
  };
}

export function savedDrafts(settings: LLMSettings): BackendDrafts {
  return {
    lmstudio: savedDraft('lmstudio', settings),
    ollama: savedDraft('ollama', settings),
    chatgpt: savedDraft('chatgpt', settings),
  };
}

function seconds(value: string): number | undefined {
  return value.trim() === '' ? undefined : Number(value);
}

function draftConfig(backendType: BackendType, draft: BackendDraft): LLMConfig {
  const defaultModel = draft.defaultModel;
  switch (backendType) {
    case 'lmstudio':
      return { backendType, lmstudio: { url: draft.url }, defaultModel };
    case 'ollama':
      return { backendType, ollama: { url: draft.url }, defaultModel };
    case 'chatgpt':
      return { backendType, chatgpt: { apiKey: draft.apiKey }, defaultModel };
  }
}

/** The save request for a draft; the connection test sends its `backend_type` and `config`. */
export function draftRequest(backendType: BackendType, draft: BackendDraft): SaveSettingsRequest {
  return buildSettingsRequest(draftConfig(backendType, draft), {
    baseUrl: draft.baseUrl,
    organization: draft.organization,
    connect_timeout: seconds(draft.connectTimeout),
    first_token_timeout: seconds(draft.firstTokenTimeout),
    idle_timeout: seconds(draft.idleTimeout),
  });
}
