// The contract with the Taleweaver backend (docs/API.md). Wire types keep the JSON's snake_case.

export type BackendType = 'lmstudio' | 'ollama' | 'chatgpt';

/** The user's LLM choice as the spec (§2.3) models it; settings.ts turns it into a save request. */
export interface LLMConfig {
  backendType: BackendType;
  lmstudio?: { url: string };
  ollama?: { url: string };
  chatgpt?: { apiKey: string };
  defaultModel?: string;
}

// ---- Errors -------------------------------------------------------------------------------

/** `/api/*` error body. */
export interface ApiErrorBody {
  error: { code: string; message: string; field?: string; hint?: string };
}

/** `/proxy/*` error body (OpenAI's shape); also the payload of a mid-stream error event. */
export interface ProxyErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

// ---- Settings -----------------------------------------------------------------------------

export interface Timeouts {
  connect_timeout: number;
  first_token_timeout: number;
  idle_timeout: number;
}

export interface LocalBackendConfig extends Timeouts {
  url: string;
}

export interface ChatGPTBackendConfig extends Timeouts {
  api_key_masked: string | null;
  has_api_key: boolean;
  base_url: string;
  organization: string | null;
}

export type TestStatus = 'connected' | 'error';

export interface LastTest {
  status: TestStatus;
  error: string | null;
  latency_ms: number | null;
  tested_at: string;
}

export interface SavedBackend<Config> {
  config: Config;
  default_model: string | null;
  is_active: boolean;
  updated_at: string;
  last_test: LastTest | null;
}

export interface SavedBackends {
  lmstudio?: SavedBackend<LocalBackendConfig>;
  ollama?: SavedBackend<LocalBackendConfig>;
  chatgpt?: SavedBackend<ChatGPTBackendConfig>;
}

/** GET and POST /api/settings/llm. `config` is `{}` while nothing is saved. */
export interface LLMSettings {
  backend_type: BackendType | null;
  config: LocalBackendConfig | ChatGPTBackendConfig | Record<string, never>;
  default_model: string | null;
  updated_at: string | null;
  backends: SavedBackends;
}

export type TimeoutOptions = Partial<Timeouts>;

export interface LocalBackendConfigRequest extends TimeoutOptions {
  url?: string;
}

/** A blank or absent `api_key` keeps the stored key. */
export interface ChatGPTBackendConfigRequest extends TimeoutOptions {
  api_key?: string;
  base_url?: string;
  organization?: string;
}

export type BackendConfigRequest = LocalBackendConfigRequest | ChatGPTBackendConfigRequest;

export interface SaveSettingsRequest {
  backend_type: BackendType;
  config: BackendConfigRequest;
  default_model: string | null;
}

// ---- Connection test, status, models ------------------------------------------------------

export interface TestConnectionRequest {
  backend_type: BackendType;
  config?: BackendConfigRequest;
  generate?: boolean;
  model?: string;
}

export interface DiagnosisStep {
  name: string;
  label: string;
  status: 'ok' | 'failed' | 'skipped';
  duration_ms: number | null;
  detail: string | null;
}

/** POST /api/settings/llm/test — 200 whatever the connection's outcome. */
export interface TestConnectionResult {
  status: TestStatus;
  backend_type: BackendType;
  models: string[];
  latency_ms: number | null;
  tested_at: string;
  server_info?: { version?: string | null } | null;
  resolved_url?: string | null;
  error: string | null;
  error_code: string | null;
  hint: string | null;
  steps: DiagnosisStep[];
}

export type ConnectionStatus = 'connected' | 'disconnected' | 'error' | 'not_configured';

export type ModelState = 'loaded' | 'loading' | 'not-loaded';

/** GET /api/settings/llm/status */
export interface LLMStatus {
  backend_type: BackendType | null;
  status: ConnectionStatus;
  active_model: string | null;
  last_tested_at: string | null;
  last_test_status: TestStatus | null;
  checked_at: string | null;
  latency_ms: number | null;
  error: string | null;
  hint: string | null;
  model_state: ModelState | null;
}

export interface ModelDetail {
  id: string;
  size: number | null;
  family: string | null;
  parameter_size: string | null;
  quantization: string | null;
  context_length: number | null;
  state: ModelState | null;
}

/** GET /api/settings/llm/models */
export interface ModelsResponse {
  backend_type: BackendType;
  models: string[];
  default_model: string | null;
  details: ModelDetail[];
}

// ---- Proxy (OpenAI-compatible) ------------------------------------------------------------

/** GET /proxy/llm/v1/models */
export interface ProxyModelList {
  object: 'list';
  data: { id: string; object: 'model'; owned_by: BackendType; created: number }[];
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** POST /proxy/llm/v1/chat/completions; a missing `model` means the saved default model. */
export interface ChatCompletionRequest {
  model?: string;
  messages: ChatMessage[];
  stream?: boolean;
  max_tokens?: number;
  temperature?: number;
}

/** One `data:` event of a streamed chat completion. */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: string; content?: string | null };
    finish_reason: string | null;
  }[];
}

// ---- Auth ---------------------------------------------------------------------------------

export type AuthMode = 'single' | 'multi';

/** GET /api/auth/mode */
export interface AuthModeResponse {
  mode: AuthMode;
}

export interface User {
  id: number;
  username: string;
}

/** POST /api/auth/login */
export interface LoginResponse {
  token: string;
  user: User;
}

/** GET /api/auth/me */
export interface CurrentUser extends User {
  mode: AuthMode;
}

// ---- Stories ------------------------------------------------------------------------------

export interface StorySummary {
  id: number;
  title: string;
  prompt: string;
  backend_type: BackendType | null;
  model: string | null;
  created_at: string;
  updated_at: string;
  excerpt: string;
}

/** GET /api/stories — newest first. */
export interface StoriesResponse {
  stories: StorySummary[];
}

/** POST /api/stories (201) and GET /api/stories/<id>. */
export interface Story extends Omit<StorySummary, 'excerpt'> {
  content: string;
}

export interface CreateStoryRequest {
  title: string;
  prompt: string;
  content: string;
  backend_type?: BackendType;
  model?: string;
}
