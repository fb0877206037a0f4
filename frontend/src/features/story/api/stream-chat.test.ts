import { describe, expect, it, vi } from 'vitest';
import { chunkEvent, controlledStream, fakeServer, json, sseResponse } from '../../../test/server';
import { ApiError } from '../../../lib/api-client';
import { streamChat } from './stream-chat';

const request = { messages: [{ role: 'user' as const, content: 'Once upon a time' }] };

function collect() {
  const deltas: string[] = [];
  return { deltas, onDelta: (text: string) => deltas.push(text) };
}

describe('streamChat', () => {
  it('asks the proxy for a stream and joins deltas split at arbitrary points across reads', async () => {
    const body = chunkEvent('Hello, ') + chunkEvent('wörld') + 'data: [DONE]\n\n';
    const bytes = new TextEncoder().encode(body);
    const wide = body.indexOf('ö');
    // Cut inside the first JSON, between "data:" lines, and inside the two-byte "ö".
    const cuts = [0, 17, body.indexOf('\n\n') + 1, new TextEncoder().encode(body.slice(0, wide)).length + 1, bytes.length];
    const stream = controlledStream();
    const server = fakeServer({ 'POST /proxy/llm/v1/chat/completions': () => sseResponse(stream.stream) });
    const { deltas, onDelta } = collect();

    const done = streamChat(request, { onDelta });
    for (let i = 1; i < cuts.length; i++) stream.pushBytes(bytes.slice(cuts[i - 1], cuts[i]));
    await done;

    expect(deltas.join('')).toBe('Hello, wörld');
    expect(server.sent('POST', '/proxy/llm/v1/chat/completions')[0].body).toMatchObject({ stream: true, messages: request.messages });
  });

  it('stops at [DONE] and ignores anything after it', async () => {
    fakeServer({
      'POST /proxy/llm/v1/chat/completions': () =>
        sseResponse(chunkEvent('The end.') + 'data: [DONE]\n\n' + chunkEvent(' Not this.')),
    });
    const { deltas, onDelta } = collect();
    await streamChat(request, { onDelta });
    expect(deltas.join('')).toBe('The end.');
  });

  it('reports who wrote the story from the proxy headers', async () => {
    fakeServer({
      'POST /proxy/llm/v1/chat/completions': () =>
        sseResponse('data: [DONE]\n\n', { 'X-Taleweaver-Backend': 'ollama', 'X-Taleweaver-Model': 'llama2:7b' }),
    });
    let origin;
    await streamChat(request, { onDelta: () => undefined, onOpen: (o) => (origin = o) });
    expect(origin).toEqual({ backend: 'ollama', model: 'llama2:7b' });
  });

  it('throws the message of a mid-stream error event after delivering the text before it', async () => {
    const errorEvent = { error: { message: 'Ollama stopped answering for 60 s.', type: 'timeout', code: 'backend_timeout', param: null } };
    fakeServer({
      'POST /proxy/llm/v1/chat/completions': () =>
        sseResponse(chunkEvent('Part one') + `data: ${JSON.stringify(errorEvent)}\n\n` + 'data: [DONE]\n\n'),
    });
    const { deltas, onDelta } = collect();

    const failure = streamChat(request, { onDelta });
    await expect(failure).rejects.toThrow('Ollama stopped answering for 60 s.');
    await expect(failure).rejects.toMatchObject({ code: 'backend_timeout' });
    expect(deltas.join('')).toBe('Part one');
  });

  it('turns a proxy error response (OpenAI shape) into an ApiError with status and code', async () => {
    fakeServer({
      'POST /proxy/llm/v1/chat/completions': () =>
        json(
          { error: { message: 'No LLM backend is configured.', type: 'invalid_request_error', code: 'backend_not_configured', param: null } },
          400,
        ),
    });
    const failure = streamChat(request, { onDelta: () => undefined });
    await expect(failure).rejects.toBeInstanceOf(ApiError);
    await expect(failure).rejects.toMatchObject({ status: 400, code: 'backend_not_configured', message: 'No LLM backend is configured.' });
  });

  it('says the stream broke off when it ends without [DONE]', async () => {
    fakeServer({ 'POST /proxy/llm/v1/chat/completions': () => sseResponse(chunkEvent('Half a sto')) });
    await expect(streamChat(request, { onDelta: () => undefined })).rejects.toMatchObject({ code: 'stream_interrupted' });
  });

  it('rejects with AbortError when stopped, keeping what was delivered', async () => {
    const stream = controlledStream();
    fakeServer({ 'POST /proxy/llm/v1/chat/completions': () => sseResponse(stream.stream) });
    const abort = new AbortController();
    const { deltas, onDelta } = collect();

    const running = streamChat(request, { onDelta, signal: abort.signal });
    stream.push(chunkEvent('So far'));
    await vi.waitFor(() => expect(deltas).toEqual(['So far']));
    abort.abort();

    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    expect(deltas.join('')).toBe('So far');
  });
});
