import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiError, fakeServer } from '../test/server';
import { apiJson, getToken, setToken, subscribeToToken } from './api-client';

describe('apiJson', () => {
  it('turns the /api error shape into an ApiError with status, code, message, field and hint', async () => {
    fakeServer({
      'POST /api/settings/llm': () =>
        apiError(400, 'validation_error', 'Enter a URL starting with http:// or https://.', { field: 'config.url', hint: 'e.g. http://localhost:1234' }),
    });
    await expect(apiJson('/api/settings/llm', { method: 'POST', body: {} })).rejects.toMatchObject({
      status: 400,
      code: 'validation_error',
      message: 'Enter a URL starting with http:// or https://.',
      field: 'config.url',
      hint: 'e.g. http://localhost:1234',
    });
  });

  it('says the server cannot be reached when fetch itself fails', async () => {
    vi.spyOn(globalThis, 'fetch').mockRejectedValue(new TypeError('Failed to fetch'));
    await expect(apiJson('/api/settings/llm')).rejects.toThrow(
      'Cannot reach the Taleweaver server at http://localhost:3000 — is it running?',
    );
  });

  it('explains a non-JSON answer, as when VITE_API_BASE_URL is missing in development', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValue(new Response('<!doctype html>', { headers: { 'Content-Type': 'text/html' } }));
    await expect(apiJson('/api/settings/llm')).rejects.toThrow(/set VITE_API_BASE_URL/);
  });

  it('sends the login token as a bearer token', async () => {
    setToken('abc123');
    const server = fakeServer({ 'GET /api/auth/me': () => new Response('{}', { headers: { 'Content-Type': 'application/json' } }) });
    await apiJson('/api/auth/me');
    expect(server.requests[0].headers.get('Authorization')).toBe('Bearer abc123');
  });

  it('forgets the token and tells the app when the server answers 401', async () => {
    setToken('expired');
    const listener = vi.fn();
    const unsubscribe = subscribeToToken(listener);
    fakeServer({ 'GET /api/stories': () => apiError(401, 'unauthorized', 'Log in again.') });

    await expect(apiJson('/api/stories')).rejects.toMatchObject({ status: 401 });
    expect(getToken()).toBeNull();
    expect(listener).toHaveBeenCalled();
    unsubscribe();
  });
});

describe('a backend on another origin that gives no answer', () => {
  // The base URL is read when the module loads, so each test loads it afresh with its own.
  async function clientAt(baseUrl: string) {
    vi.resetModules();
    vi.stubEnv('VITE_API_BASE_URL', baseUrl);
    return import('./api-client');
  }

  afterEach(() => vi.unstubAllEnvs());

  it('is a server refusing this origin when a no-cors health probe reaches it, and names the setting', async () => {
    const { apiJson } = await clientAt('http://127.0.0.1:5000');
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      if (init?.mode === 'no-cors' && String(input) === 'http://127.0.0.1:5000/api/health') return new Response(null, { status: 200 });
      throw new TypeError('Failed to fetch');
    });

    const error = await apiJson('/api/auth/mode').catch((caught: unknown) => caught);

    expect(error).toMatchObject({
      code: 'origin_not_allowed',
      message: `The Taleweaver server at http://127.0.0.1:5000 is running but refuses requests from this page's address (${window.location.origin}).`,
    });
    expect((error as { hint: string }).hint).toContain(`Add ${window.location.origin} to TALEWEAVER_CORS_ORIGINS`);
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it('is a server that is down when the probe fails too', async () => {
    const { apiJson } = await clientAt('http://127.0.0.1:5000');
    vi.spyOn(globalThis, 'fetch').mockRejectedValue(new TypeError('Failed to fetch'));

    await expect(apiJson('/api/auth/mode')).rejects.toMatchObject({
      code: 'network_error',
      message: 'Cannot reach the Taleweaver server at http://127.0.0.1:5000 — is it running?',
    });
  });
});
