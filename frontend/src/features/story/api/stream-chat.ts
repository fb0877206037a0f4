import { createParser } from 'eventsource-parser';
import { ApiError, apiErrorFromBody, apiFetch } from '../../../lib/api-client';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../../types/api';

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
