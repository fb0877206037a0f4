import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createParser } from 'eventsource-parser';
import type {
  BackendType,
  ChatCompletionChunk,
  ChatCompletionRequest,
  LLMStatus,
  ModelsResponse,
  TestConnectionRequest,
  TestConnectionResult,
} from '../types/LLMTypes';
import { ApiError, apiErrorFromBody, apiFetch, apiJson } from './api';
import { settingsKeys } from './settings';

export const llmKeys = {
  status: [...settingsKeys.all, 'status'] as const,
  models: (backendType: BackendType) => [...settingsKeys.all, 'models', backendType] as const,
};

/** Tests a backend with possibly unsaved values; a connection failure is a 200 with status "error". */
export function testConnection(request: TestConnectionRequest): Promise<TestConnectionResult> {
  return apiJson<TestConnectionResult>('/api/settings/llm/test', { method: 'POST', body: request });
}

export function getModels(backendType: BackendType, { refresh = false } = {}): Promise<ModelsResponse> {
  const query = new URLSearchParams({ backend_type: backendType });
  if (refresh) query.set('refresh', '1');
  return apiJson<ModelsResponse>(`/api/settings/llm/models?${query}`);
}

export function getLLMStatus(): Promise<LLMStatus> {
  return apiJson<LLMStatus>('/api/settings/llm/status');
}

/** A test of the saved backend updates its "last test" at once, not at the next status poll. */
export function useTestConnection() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: testConnection,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: llmKeys.status }),
  });
}

/** The saved backend's models; off for a backend that was never saved (the server has nothing to ask). */
export function useModels(backendType: BackendType, enabled: boolean) {
  return useQuery({
    queryKey: llmKeys.models(backendType),
    queryFn: () => getModels(backendType),
    enabled,
    // Lists change rarely; "Refresh Models" is the way to ask again.
    staleTime: 60_000,
  });
}

/** Asks the backend again instead of the server's cached list, and replaces the cached query. */
export function useRefreshModels() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (backendType: BackendType) => getModels(backendType, { refresh: true }),
    onSuccess: (models) => queryClient.setQueryData(llmKeys.models(models.backend_type), models),
  });
}

const STATUS_POLL_MS = 5000;

/** Polled while the page is visible; a hidden tab stops polling. */
export function useLLMStatus() {
  return useQuery({
    queryKey: llmKeys.status,
    queryFn: getLLMStatus,
    refetchInterval: STATUS_POLL_MS,
    refetchIntervalInBackground: false,
  });
}

// ---- Streaming chat ------------------------------------------------------------------------

/** Who answered, from the proxy's response headers (null when CORS hides them). */
export interface StreamOrigin {
  backend: string | null;
  model: string | null;
}

export interface StreamChatOptions {
  signal?: AbortSignal;
  onDelta: (text: string) => void;
  onOpen?: (origin: StreamOrigin) => void;
}

const STREAM_INTERRUPTED =
  'The story stream broke off before the end — the server or the model may have stopped. Try again.';

type StreamEvent = { kind: 'done' } | { kind: 'error'; error: ApiError } | { kind: 'delta'; text: string };

function readStreamEvent(data: string, status: number): StreamEvent {
  if (data === '[DONE]') return { kind: 'done' };
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    return { kind: 'error', error: new ApiError(status, 'malformed_stream', 'The server sent a garbled piece of the story. Try again.') };
  }
  const error = apiErrorFromBody(status, payload);
  if (error) return { kind: 'error', error };
  return { kind: 'delta', text: (payload as ChatCompletionChunk).choices?.[0]?.delta?.content ?? '' };
}

/**
 * Streams a chat completion through the backend's proxy, calling onDelta with each piece of text.
 * Resolves at `data: [DONE]`; rejects with ApiError on a proxy error (before or during the
 * stream) and with an AbortError when the signal aborts.
 */
export async function streamChat(request: ChatCompletionRequest, { signal, onDelta, onOpen }: StreamChatOptions): Promise<void> {
  const response = await apiFetch('/proxy/llm/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ ...request, stream: true }),
    signal,
  });
  onOpen?.({
    backend: response.headers.get('X-Taleweaver-Backend'),
    model: response.headers.get('X-Taleweaver-Model'),
  });
  if (!response.body) throw new ApiError(response.status, 'stream_interrupted', STREAM_INTERRUPTED);

  const events: string[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event.data) });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  // Cancelling the reader ends a pending read even where aborting fetch does not reach the body.
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', cancel);
  if (signal?.aborted) cancel();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch {
        // A dropped connection ends the stream early; the checks below tell a stop from a break.
        chunk = { done: true, value: undefined };
      }
      if (signal?.aborted) throw new DOMException('The generation was stopped.', 'AbortError');
      if (chunk.done) throw new ApiError(response.status, 'stream_interrupted', STREAM_INTERRUPTED);

      parser.feed(chunk.value);
      for (const data of events.splice(0)) {
        const event = readStreamEvent(data, response.status);
        if (event.kind === 'done') return;
        if (event.kind === 'error') throw event.error;
        if (event.text) onDelta(event.text);
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    cancel();
  }
}
