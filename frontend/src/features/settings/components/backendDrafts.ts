import { DEFAULT_BASE_URLS, DEFAULT_URLS, defaultTimeouts } from '../../../lib/backends';
import { buildSettingsRequest } from '../lib/settingsRequest';
import type { BackendConfig, LLMSettings, SaveSettingsRequest } from '../../../types/api';
import type { BackendType, LLMConfig } from '../../../types/LLMTypes';

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

type Timeouts = Pick<BackendConfig, 'connect_timeout' | 'first_token_timeout' | 'idle_timeout'>;

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
  const saved = settings.backends[backendType];
  if (backendType === 'chatgpt' || backendType === 'openai_compatible') {
    return {
      ...blank,
      baseUrl: saved?.config.base_url ?? DEFAULT_BASE_URLS[backendType],
      organization: saved?.config.organization ?? '',
      ...timeoutDraft(saved?.config ?? defaultTimeouts(backendType)),
      defaultModel: saved?.default_model ?? '',
    };
  }
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
    openai_compatible: savedDraft('openai_compatible', settings),
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
    case 'openai_compatible':
      return { backendType, openai_compatible: { baseUrl: draft.baseUrl, apiKey: draft.apiKey }, defaultModel };
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
