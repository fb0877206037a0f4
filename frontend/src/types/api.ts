// Names for the wire types generated from backend/openapi.json (`npm run gen:api`). They keep
// the JSON's snake_case; nothing here is written by hand except the names.
import type { components, paths } from './api.gen';

type Schemas = components['schemas'];
type JsonBody<Operation> = Operation extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : never;
type JsonAnswer<Operation, Status extends number = 200> = Operation extends {
  responses: { [S in Status]: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

/** `/api/*` error body. */
export type ApiErrorBody = Schemas['ApiError'];
/** `/proxy/*` error body (OpenAI's shape); also the payload of a mid-stream error event. */
export type ProxyErrorBody = Schemas['OpenAIError'];

export type LLMSettings = JsonAnswer<paths['/api/settings/llm']['get']>;
export type SavedBackend = LLMSettings['backends'][string];
export type BackendConfig = SavedBackend['config'];
export type LastTest = NonNullable<SavedBackend['last_test']>;
export type SaveSettingsRequest = JsonBody<paths['/api/settings/llm']['post']>;
export type BackendConfigRequest = NonNullable<SaveSettingsRequest['config']>;

export type TestConnectionRequest = JsonBody<paths['/api/settings/llm/test']['post']>;
export type TestConnectionResult = JsonAnswer<paths['/api/settings/llm/test']['post']>;
export type DiagnosisStep = TestConnectionResult['steps'][number];

export type LLMStatus = JsonAnswer<paths['/api/settings/llm/status']['get']>;
export type ConnectionStatus = LLMStatus['status'];
export type ModelState = NonNullable<LLMStatus['model_state']>;
export type ModelsResponse = JsonAnswer<paths['/api/settings/llm/models']['get']>;
export type ModelDetail = ModelsResponse['details'][number];

export type BackendList = Schemas['BackendList'];
export type BackendDescriptor = Schemas['BackendDescriptor'];
export type BackendConfigField = Schemas['BackendConfigField'];

export type ChatCompletionRequest = JsonBody<paths['/proxy/llm/v1/chat/completions']['post']>;
export type ChatMessage = NonNullable<ChatCompletionRequest['messages']>[number];
export type ChatCompletionChunk = Schemas['ChatCompletionChunk'];

export type AuthModeResponse = JsonAnswer<paths['/api/auth/mode']['get']>;
export type AuthMode = AuthModeResponse['mode'];
export type LoginRequest = JsonBody<paths['/api/auth/login']['post']>;
export type LoginResponse = JsonAnswer<paths['/api/auth/login']['post']>;
export type User = LoginResponse['user'];
export type CurrentUser = JsonAnswer<paths['/api/auth/me']['get']>;

export type StoriesResponse = JsonAnswer<paths['/api/stories']['get']>;
export type StorySummary = StoriesResponse['stories'][number];
export type Story = JsonAnswer<paths['/api/stories/{story_id}']['get']>;
/** A story's last generated passage: each token's likeliest alternatives, placed in its text. */
export type StoryProbabilities = Schemas['StoryProbabilities'];
export type TokenProbability = Schemas['TokenProbability'];
export type CreateStoryRequest = JsonBody<paths['/api/stories']['post']>;
export type UpdateStoryRequest = JsonBody<paths['/api/stories/{story_id}']['patch']>;
export type RevisionList = JsonAnswer<paths['/api/stories/{story_id}/revisions']['get']>;
export type RevisionSummary = RevisionList['revisions'][number];
export type Revision = JsonAnswer<paths['/api/stories/{story_id}/revisions/{revision}']['get']>;
/** A server-side generation job of a story; `text_length` counts Unicode code points. */
export type Generation = Schemas['Generation'];
export type GenerationStatus = Generation['status'];
export type ContextBudget = Schemas['ContextBudget'];
export type GenerationStats = Schemas['GenerationStats'];
export type LibraryBackup = Schemas['LibraryBackup'];
export type StoryHistory = Story['history'];
export type StoryAlternatives = NonNullable<Story['alternatives']>;
export type Lorebook = Schemas['Lorebook'];
export type LorebookEntry = Schemas['LorebookEntry'];
export type NextPrompt = JsonAnswer<paths['/api/stories/{story_id}/prompt']['get']>;
export type KeptPrompt = JsonAnswer<paths['/proxy/llm/v1/generations/{generation_id}/prompt']['get']>;
export type PromptMessage = Schemas['PromptMessage'];
export type PromptPart = Schemas['PromptPart'];
/** Where the active backend takes each sampling setting (GET /api/settings/llm/samplers). */
export type SamplerReport = Schemas['SamplerNames'];
export type SamplerName = SamplerReport['samplers'][number]['name'];
export type SamplerPreset = Schemas['SamplerPreset'];
export type SamplerPresetSettings = SamplerPreset['settings'];
