// The one place that calls fetch: base URL, bearer token, and the backend's error shapes.

const baseUrl = (import.meta.env.VITE_API_BASE_URL ?? '').replace(/\/+$/, '');

/** Where the backend lives, in words for error messages. */
export const serverAddress = baseUrl || window.location.origin;

/** Any failed call to the backend, in one shape the UI can show. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  readonly hint?: string;

  constructor(status: number, code: string, message: string, details: { field?: string; hint?: string } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = details.field;
    this.hint = details.hint;
  }
}

// ---- Session token (multi-user mode) ------------------------------------------------------

// sessionStorage: a reload keeps the login, closing the tab ends it.
const TOKEN_KEY = 'taleweaverToken';
const tokenListeners = new Set<() => void>();

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  tokenListeners.forEach((listener) => listener());
}

/** Lets the app re-render when the token changes, e.g. cleared by a 401. */
export function subscribeToToken(listener: () => void): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

// ---- Requests -----------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Reads either error shape: `/api`'s {code, message, field, hint} or `/proxy`'s OpenAI {message, type, code, param}. */
export function apiErrorFromBody(status: number, body: unknown): ApiError | null {
  if (!isRecord(body) || !isRecord(body.error) || typeof body.error.message !== 'string') return null;
  const { error } = body;
  const code = optionalString(error.code) ?? optionalString(error.type) ?? 'error';
  return new ApiError(status, code, error.message as string, {
    field: optionalString(error.field) ?? optionalString(error.param),
    hint: optionalString(error.hint),
  });
}

async function errorFromResponse(response: Response): Promise<ApiError> {
  const body: unknown = await response.json().catch(() => null);
  return (
    apiErrorFromBody(response.status, body) ??
    new ApiError(
      response.status,
      'http_error',
      `The server at ${serverAddress} answered ${response.status} ${response.statusText}`.trim() +
        ' — is it the Taleweaver backend?',
    )
  );
}

/**
 * Why a request got no answer. From another origin, a server that refuses this origin looks
 * like a server that is down (the browser hides the 403 behind a CORS error); a no-cors request,
 * which carries no Origin header, still reaches such a server and tells the two apart.
 */
async function unreachableError(): Promise<ApiError> {
  const pageOrigin = window.location.origin;
  if (baseUrl && new URL(baseUrl, pageOrigin).origin !== pageOrigin) {
    try {
      await fetch(`${baseUrl}/api/health`, { mode: 'no-cors', cache: 'no-store' });
      return new ApiError(
        0,
        'origin_not_allowed',
        `The Taleweaver server at ${serverAddress} is running but refuses requests from this page's address (${pageOrigin}).`,
        {
          hint: `Add ${pageOrigin} to TALEWEAVER_CORS_ORIGINS where the server runs (comma-separated, e.g. TALEWEAVER_CORS_ORIGINS=${pageOrigin}), restart the server, then reload this page.`,
        },
      );
    } catch {
      // No answer even without CORS: the server is down.
    }
  }
  return new ApiError(0, 'network_error', `Cannot reach the Taleweaver server at ${serverAddress} — is it running?`);
}

/** fetch with the base URL and token; resolves only for a 2xx answer, otherwise throws ApiError. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);

  let response: Response;
  try {
    response = await fetch(baseUrl + path, { ...init, headers });
  } catch (error) {
    if (init.signal?.aborted) throw error;
    throw await unreachableError();
  }
  if (response.ok) return response;

  const error = await errorFromResponse(response);
  // Our own 401 always means "not logged in" (the backend reports upstream auth failures as 502).
  if (response.status === 401 && token) setToken(null);
  throw error;
}

interface JsonRequest {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  /** Lets the request outlive the page (a save sent as the tab closes). */
  keepalive?: boolean;
}

/** A JSON call; a 204 resolves to undefined. */
export async function apiJson<T>(path: string, { method = 'GET', body, signal, keepalive }: JsonRequest = {}): Promise<T> {
  const response = await apiFetch(path, {
    method,
    signal,
    ...(keepalive ? { keepalive } : {}),
    headers: body === undefined ? undefined : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  // The Vite dev server answers unknown paths with index.html, which is what a missing
  // VITE_API_BASE_URL looks like in development.
  if (!response.headers.get('Content-Type')?.includes('json')) {
    throw new ApiError(
      response.status,
      'unexpected_response',
      `${serverAddress} did not answer like the Taleweaver backend — in development, set VITE_API_BASE_URL to the backend's address (e.g. http://localhost:5000).`,
    );
  }
  return (await response.json()) as T;
}
