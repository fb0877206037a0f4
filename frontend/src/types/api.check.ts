// A type-level test of api.ts: each name must find its generated type. A change to
// backend/openapi.json that leaves one of them `never` (which anything would type-check
// against) fails `npm run typecheck` here.
import type * as Api from './api';
import type { components } from './api.gen';
import type { BackendType } from './LLMTypes';

type Found<T> = [T] extends [never] ? 'missing from api.gen.ts' : true;

export const everyNameFindsItsType: Found<Api.LLMSettings>[] &
  Found<Api.SavedBackend>[] &
  Found<Api.BackendConfig>[] &
  Found<Api.LastTest>[] &
  Found<Api.SaveSettingsRequest>[] &
  Found<Api.TestConnectionRequest>[] &
  Found<Api.TestConnectionResult>[] &
  Found<Api.DiagnosisStep>[] &
  Found<Api.LLMStatus>[] &
  Found<Api.ModelsResponse>[] &
  Found<Api.ModelDetail>[] &
  Found<Api.BackendList>[] &
  Found<Api.ChatCompletionRequest>[] &
  Found<Api.ChatCompletionChunk>[] &
  Found<Api.AuthModeResponse>[] &
  Found<Api.LoginResponse>[] &
  Found<Api.User>[] &
  Found<Api.CurrentUser>[] &
  Found<Api.StoriesResponse>[] &
  Found<Api.StorySummary>[] &
  Found<Api.Story>[] &
  Found<Api.CreateStoryRequest>[] = [true];

// The spec's BackendType (LLMTypes.ts) is the server's list of backend types, no more, no less.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : 'differs from the server') : 'differs from the server';
export const backendTypeIsTheServers: Same<BackendType, components['schemas']['BackendType']> = true;
