import { http, HttpResponse } from 'msw';
import { vi } from 'vitest';
import { setupServer } from 'msw/node';

/** One request the app sent, as the fake server saw it. */
export interface SentRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Headers;
}

type Handler = (request: SentRequest) => Response | Promise<Response>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

export function apiError(status: number, code: string, message: string, extra: { field?: string; hint?: string } = {}): Response {
  return json({ error: { code, message, ...extra } }, status);
}

/** MSW's interception of every fetch in the tests (started and reset in setup.ts). */
export const network = setupServer();

/**
 * Fakes the backend with MSW, answering "METHOD /path" routes; anything else is a 500 naming
 * the request, so a test that sends something unexpected fails visibly. A handler that rejects
 * is a request that never got an answer (the server is down, or the browser blocked it).
 */
export function fakeServer(routes: Record<string, Handler>) {
  const requests: SentRequest[] = [];
  // A pass-through spy: MSW answers, and a test can still read the options the app gave fetch
  // (e.g. keepalive), which the intercepted request does not keep.
  if (!vi.isMockFunction(globalThis.fetch)) vi.spyOn(globalThis, 'fetch');
  network.use(
    http.all('*', async ({ request }) => {
      const url = new URL(request.url);
      const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
      const sent: SentRequest = {
        method: request.method,
        path: url.pathname,
        query: url.searchParams,
        body: text ? JSON.parse(text) : undefined,
        headers: request.headers,
      };
      requests.push(sent);
      const handler = routes[`${sent.method} ${sent.path}`];
      if (!handler) return apiError(500, 'unexpected', `Test server has no route for ${sent.method} ${sent.path}`);
      try {
        return await handler(sent);
      } catch {
        return HttpResponse.error();
      }
    }),
  );
  return {
    requests,
    sent: (method: string, path: string) => requests.filter((request) => request.method === method && request.path === path),
  };
}

/** A response body the test writes to piece by piece, like a server streaming SSE. */
export function controlledStream() {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return {
    stream,
    push: (text: string) => controller.enqueue(encoder.encode(text)),
    pushBytes: (bytes: Uint8Array) => controller.enqueue(bytes),
    close: () => controller.close(),
  };
}

export function sseResponse(body: ReadableStream<Uint8Array> | string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream', ...headers } });
}

/** One `data:` event of a chat completion chunk carrying `content`. */
export function chunkEvent(content: string): string {
  const chunk = {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'test-model',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}
