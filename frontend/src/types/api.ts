// Names for the wire types generated from backend/openapi.json (`npm run gen:api`). They keep
// the JSON's snake_case; nothing here is written by hand except the names.
import type { components, paths } from './api.gen';

type Schemas = components['schemas'];
type JsonBody<Operation> = Operation extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : never;

/** `/api/*` error body. */
export type ApiErrorBody = Schemas['ApiError'];
/** `/proxy/*` error body (OpenAI's shape); also the payload of a mid-stream error event. */
export type ProxyErrorBody = Schemas['OpenAIError'];

export type LLMSettings = Schemas['Settings'];
export type SavedBackend = Schemas['SavedBackend'];
export type BackendConfig = Schemas['BackendConfig'];
export type LastTest = Schemas['LastTest'];
export type SaveSettingsRequest = JsonBody<paths['/api/settings/llm']['post']>;
export type BackendConfigRequest = NonNullable<SaveSettingsRequest['config']>;

export type TestConnectionRequest = JsonBody<paths['/api/settings/llm/test']['post']>;
export type TestConnectionResult = Schemas['ConnectionTestResult'];
export type DiagnosisStep = Schemas['DiagnosisStep'];

export type LLMStatus = Schemas['LLMStatus'];
export type ConnectionStatus = LLMStatus['status'];
export type ModelState = NonNullable<LLMStatus['model_state']>;
export type ModelsResponse = Schemas['ModelList'];
export type ModelDetail = Schemas['ModelDetail'];

export type BackendList = Schemas['BackendList'];
export type BackendDescriptor = Schemas['BackendDescriptor'];
export type BackendConfigField = Schemas['BackendConfigField'];

export type ChatCompletionRequest = JsonBody<paths['/proxy/llm/v1/chat/completions']['post']>;
export type ChatMessage = ChatCompletionRequest['messages'][number];
export type ChatCompletionChunk = Schemas['ChatCompletionChunk'];

export type AuthModeResponse = Schemas['AuthMode'];
export type AuthMode = AuthModeResponse['mode'];
export type User = Schemas['User'];
export type LoginRequest = JsonBody<paths['/api/auth/login']['post']>;
export type LoginResponse = Schemas['LoginResponse'];
export type CurrentUser = Schemas['CurrentUser'];

export type StorySummary = Schemas['StorySummary'];
export type Story = Schemas['Story'];
export type StoriesResponse = Schemas['StoryList'];
export type CreateStoryRequest = JsonBody<paths['/api/stories']['post']>;
