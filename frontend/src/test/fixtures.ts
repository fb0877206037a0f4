import type { LLMSettings, LLMStatus, TestConnectionResult } from '../types/api';

export const NOTHING_SAVED: LLMSettings = {
  backend_type: null,
  config: {},
  default_model: null,
  updated_at: null,
  backends: {},
};

const timeouts = { connect_timeout: 5, first_token_timeout: 300, idle_timeout: 60 };

/** Ollama active, ChatGPT saved with a key, LM Studio never saved. */
export const OLLAMA_ACTIVE: LLMSettings = {
  backend_type: 'ollama',
  config: { url: 'http://localhost:11434', ...timeouts },
  default_model: 'llama2',
  updated_at: '2026-11-28T07:40:00Z',
  backends: {
    ollama: {
      config: { url: 'http://localhost:11434', ...timeouts },
      default_model: 'llama2',
      is_active: true,
      updated_at: '2026-11-28T07:40:00Z',
      last_test: null,
    },
    chatgpt: {
      config: {
        api_key_masked: 'sk-***************f',
        has_api_key: true,
        base_url: 'https://api.openai.com/v1',
        organization: null,
        ...timeouts,
        first_token_timeout: 120,
      },
      default_model: 'gpt-4',
      is_active: false,
      updated_at: '2026-11-28T07:40:00Z',
      last_test: null,
    },
  },
};

export const CONNECTED_STATUS: LLMStatus = {
  backend_type: 'ollama',
  status: 'connected',
  active_model: 'llama2',
  last_tested_at: '2026-11-28T07:40:00Z',
  last_test_status: 'connected',
  checked_at: '2026-11-28T07:41:00Z',
  latency_ms: 3.1,
  error: null,
  hint: null,
  model_state: 'loaded',
};

export const UNREACHABLE_TEST: TestConnectionResult = {
  status: 'error',
  backend_type: 'lmstudio',
  models: [],
  latency_ms: null,
  tested_at: '2026-11-28T07:40:00Z',
  error: 'LM Studio did not answer at http://localhost:1234.',
  error_code: 'backend_unreachable',
  hint: 'In LM Studio, start the server and turn on "Serve on Local Network".',
  steps: [
    { name: 'resolve', label: 'Address resolution', status: 'ok', duration_ms: 0.4, detail: 'localhost' },
    { name: 'connect', label: 'TCP connect', status: 'failed', duration_ms: 1.1, detail: 'Connection refused' },
    { name: 'http', label: 'HTTP answer', status: 'skipped', duration_ms: null, detail: null },
  ],
};

export const CONNECTED_TEST: TestConnectionResult = {
  status: 'connected',
  backend_type: 'lmstudio',
  models: ['mistral-7b', 'qwen2.5-14b'],
  latency_ms: 14.2,
  tested_at: '2026-11-28T07:40:00Z',
  server_info: { version: '0.3.5' },
  error: null,
  error_code: null,
  hint: null,
  steps: [{ name: 'models', label: 'Model list', status: 'ok', duration_ms: 3, detail: null }],
};
