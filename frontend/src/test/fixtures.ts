import type { BackendList, LLMSettings, LLMStatus, TestConnectionResult } from '../types/api';

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
  server_info: null,
  resolved_url: null,
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
  resolved_url: null,
  error: null,
  error_code: null,
  hint: null,
  steps: [{ name: 'models', label: 'Model list', status: 'ok', duration_ms: 3, detail: null }],
};

type Field = BackendList['backends'][number]['fields'][number];

function field(name: string, label: string, kind: Field['kind'], extra: Partial<Field> = {}): Field {
  return { name, label, kind, required: false, secret: kind === 'secret', default: null, placeholder: null, help: null, advanced: false, ...extra };
}

function timeoutFields(firstToken: number): Field[] {
  return [
    field('connect_timeout', 'Connect timeout', 'seconds', { default: 5, advanced: true, help: 'How long to wait for the server to accept a connection.' }),
    field('first_token_timeout', 'First-token timeout', 'seconds', {
      default: firstToken,
      advanced: true,
      help: 'How long to wait for the first word of an answer (a model may be loading).',
    }),
    field('idle_timeout', 'Idle timeout', 'seconds', { default: 60, advanced: true, help: 'How long a streamed answer may pause between two pieces.' }),
  ];
}

/** GET /api/settings/llm/backends as the server serves it: every field has all nine keys. */
export const BACKENDS: BackendList = {
  backends: [
    {
      type: 'lmstudio',
      label: 'LM Studio',
      local: true,
      description: "LM Studio's local server (Developer tab → Start Server)",
      fields: [
        field('url', 'Server URL', 'url', {
          required: true,
          default: 'http://localhost:1234',
          placeholder: 'http://localhost:1234',
          help: "Where LM Studio's server listens; it shows the address in its Developer tab.",
        }),
        ...timeoutFields(300),
      ],
    },
    {
      type: 'ollama',
      label: 'Ollama',
      local: true,
      description: 'Ollama on this machine or your network (`ollama serve`)',
      fields: [
        field('url', 'Server URL', 'url', {
          required: true,
          default: 'http://localhost:11434',
          placeholder: 'http://localhost:11434',
          help: 'Where `ollama serve` listens (OLLAMA_HOST).',
        }),
        ...timeoutFields(300),
      ],
    },
    {
      type: 'chatgpt',
      label: 'ChatGPT',
      local: false,
      description: "OpenAI's API with your own API key",
      fields: [
        field('api_key', 'API key', 'secret', {
          required: true,
          placeholder: 'sk-...',
          help: 'Your OpenAI API key. It is stored encrypted on the Taleweaver server and never sent back.',
        }),
        field('base_url', 'Base URL', 'url', {
          default: 'https://api.openai.com/v1',
          placeholder: 'https://api.openai.com/v1',
          help: 'Leave the default for OpenAI; a saved key is only ever sent to the address it was saved with.',
          advanced: true,
        }),
        field('organization', 'Organization', 'text', {
          placeholder: 'org-...',
          help: 'Only for keys that belong to several OpenAI organizations.',
          advanced: true,
        }),
        ...timeoutFields(120),
      ],
    },
    {
      type: 'openai_compatible',
      label: 'OpenAI-compatible server',
      local: true,
      description: 'llama.cpp (llama-server), vLLM, KoboldCpp, Jan, LocalAI or any server with OpenAI\'s /v1 API',
      fields: [
        field('base_url', 'Base URL', 'url', {
          required: true,
          default: 'http://localhost:8080/v1',
          placeholder: 'http://localhost:8080/v1',
          help: "The server's OpenAI API, usually ending in /v1: llama.cpp :8080, vLLM :8000, KoboldCpp :5001.",
        }),
        field('api_key', 'API key', 'secret', {
          placeholder: 'optional',
          help: 'Only if the server was started with a key (llama-server --api-key, vLLM --api-key). Stored encrypted, never sent back.',
        }),
        ...timeoutFields(300),
      ],
    },
  ],
};
