import { createParser } from 'eventsource-parser';
import { ApiError, apiErrorFromBody, apiFetch, apiJson } from '../../../lib/api-client';
import type { ChatCompletionChunk } from '../../../types/api';
import type { Generation, GenerationStatus } from '../../../types/api';
import type { StoryGenerationRequest } from './types';

/** How a generation ended, from the last chunk of its event stream. */
export interface GenerationEnd {
  status: Exclude<GenerationStatus, 'running'>;
  finishReason: string | null;
  error: ApiError | null;
}

export interface GenerationHandlers {
  /** Story text from the cursor on; `offset` is the cursor after it (code points of generated text) when the server names it. */
  onText: (text: string, offset: number | null) => void;
  /** The model's reasoning: never part of the story. */
  onReasoning?: (text: string) => void;
}

/** The event stream ended before the generation did (network, server restart): follow it again. */
export class StreamDropped extends Error {
  constructor() {
    super('The connection to the server broke off while the story was being written.');
    this.name = 'StreamDropped';
  }
}

/** An error as a generation records it. */
type GenerationErrorBody = NonNullable<Generation['error']>;

interface StreamExtension {
  taleweaver?: { status?: GenerationStatus; error?: GenerationErrorBody | null };
}

function errorOf(status: number, body: GenerationErrorBody | null | undefined): ApiError | null {
  return body ? apiErrorFromBody(status, { error: body }) : null;
}

function offsetOf(id: string | undefined): number | null {
  if (id === undefined || !/^\d+$/.test(id)) return null;
  return Number(id);
}

/** Reads a generation's SSE events until its end chunk; rejects with StreamDropped if the stream breaks first. */
async function readGenerationEvents(response: Response, handlers: GenerationHandlers, signal?: AbortSignal): Promise<GenerationEnd> {
  if (!response.body) throw new StreamDropped();
  const events: { id?: string; data: string }[] = [];
  const parser = createParser({ onEvent: (event) => events.push({ id: event.id, data: event.data }) });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  // Cancelling the reader ends a pending read even where aborting fetch does not reach the body.
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', cancel);
  if (signal?.aborted) cancel();
  let end: GenerationEnd | null = null;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch {
        chunk = { done: true, value: undefined };
      }
      if (signal?.aborted) throw new DOMException('Stopped following the generation.', 'AbortError');
      if (chunk.done) throw new StreamDropped();
      parser.feed(chunk.value);
      for (const event of events.splice(0)) {
        if (event.data === '[DONE]') {
          if (end) return end;
          throw new StreamDropped();
        }
        let payload: ChatCompletionChunk & StreamExtension;
        try {
          payload = JSON.parse(event.data) as ChatCompletionChunk & StreamExtension;
        } catch {
          continue; // a garbled event cannot be story text; the server's record is what a re-attach reads
        }
        const failure = apiErrorFromBody(response.status, payload);
        if (failure) {
          end = { status: 'failed', finishReason: null, error: failure };
          continue;
        }
        const choice = payload.choices?.[0];
        const content = choice?.delta?.content;
        const reasoning = choice?.delta?.reasoning_content;
        if (reasoning) handlers.onReasoning?.(reasoning);
        if (content) handlers.onText(content, offsetOf(event.id));
        const extension = payload.taleweaver;
        if (extension?.status && extension.status !== 'running') {
          end = {
            status: extension.status,
            finishReason: choice?.finish_reason ?? null,
            error: errorOf(response.status, extension.error),
          };
        }
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    cancel();
  }
}

export interface StartedGeneration {
  generationId: number | null;
  backend: string | null;
  model: string | null;
}

/**
 * Starts a generation of the story on the server and follows it from offset 0. `onStarted`
 * gets its id (header X-Taleweaver-Generation) as soon as the server answers.
 */
export async function startGeneration(
  request: StoryGenerationRequest,
  handlers: GenerationHandlers & { onStarted?: (started: StartedGeneration) => void },
  signal?: AbortSignal,
): Promise<GenerationEnd> {
  const response = await apiFetch('/proxy/llm/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ ...request, stream: true }),
    signal,
  });
  const id = response.headers.get('X-Taleweaver-Generation');
  handlers.onStarted?.({
    generationId: id && /^\d+$/.test(id) ? Number(id) : null,
    backend: response.headers.get('X-Taleweaver-Backend'),
    model: response.headers.get('X-Taleweaver-Model'),
  });
  return readGenerationEvents(response, handlers, signal);
}

/** Follows a generation from `after` (code points of its text already shown), so nothing is lost or doubled. */
export async function followGeneration(
  generationId: number,
  after: number,
  handlers: GenerationHandlers,
  signal?: AbortSignal,
): Promise<GenerationEnd> {
  const response = await apiFetch(`/proxy/llm/v1/generations/${generationId}/events?after=${after}`, {
    headers: { Accept: 'text/event-stream' },
    signal,
  });
  return readGenerationEvents(response, handlers, signal);
}

/** Stops a generation on the server (the model stops too); the text so far is kept. */
export function stopGeneration(generationId: number): Promise<Generation> {
  return apiJson<Generation>(`/proxy/llm/v1/generations/${generationId}/stop`, { method: 'POST' });
}
