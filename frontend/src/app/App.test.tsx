import { QueryClientProvider } from '@tanstack/react-query';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { StrictMode } from 'react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { lastStoryOf } from '../features/story';
import { setToken } from '../lib/api-client';
import { BACKENDS, CONNECTED_STATUS, NOTHING_SAVED, OLLAMA_ACTIVE } from '../test/fixtures';
import { testQueryClient } from '../test/render';
import { apiError, fakeServer, json, type SentRequest } from '../test/server';
import { STORY } from '../test/stories';

const USER = { id: 1, username: 'ann' };

function renderApp() {
  return render(
    <StrictMode>
      <QueryClientProvider client={testQueryClient()}>
        <App />
      </QueryClientProvider>
    </StrictMode>,
  );
}

/** A multi-user backend that accepts only the token it handed out. */
function multiUserServer() {
  const authorised = (handler: () => Response) => (request: SentRequest) =>
    request.headers.get('Authorization') === 'Bearer token-1' ? handler() : apiError(401, 'unauthorized', 'Log in to continue.');
  return fakeServer({
    'GET /api/auth/mode': () => json({ mode: 'multi' }),
    'POST /api/auth/login': (request) =>
      (request.body as { password: string }).password === 'right'
        ? json({ token: 'token-1', user: USER })
        : apiError(401, 'unauthorized', 'Wrong username or password.'),
    'POST /api/auth/logout': authorised(() => new Response(null, { status: 204 })),
    'GET /api/auth/me': authorised(() => json({ ...USER, mode: 'multi' })),
    'GET /api/settings/llm': authorised(() => json(OLLAMA_ACTIVE)),
    'GET /api/settings/llm/backends': authorised(() => json(BACKENDS)),
    'GET /api/settings/llm/status': authorised(() => json(CONNECTED_STATUS)),
    'GET /api/stories': authorised(() => json({ stories: [] })),
    'GET /api/stories/7': authorised(() => json(STORY)),
    'GET /api/stories/7/revisions': authorised(() => json({ revisions: [] })),
    'GET /api/stories/7/context': authorised(() => apiError(404, 'not_found', 'No context here.')),
  });
}

async function logIn(user: ReturnType<typeof userEvent.setup>, password: string) {
  await user.type(await screen.findByLabelText('Username'), 'ann');
  await user.type(screen.getByLabelText('Password'), password);
  await user.click(screen.getByRole('button', { name: 'Log in' }));
}

beforeEach(() => {
  window.location.hash = '';
});

describe('App in multi-user mode', () => {
  it('asks for a login first, then opens the app with the token on every call', async () => {
    const server = multiUserServer();
    const user = userEvent.setup();
    renderApp();

    await logIn(user, 'right');

    expect(await screen.findByRole('heading', { name: 'Write a story' })).toBeInTheDocument();
    expect(await screen.findByText('ann')).toBeInTheDocument();
    await user.click(screen.getByRole('link', { name: 'Library' }));
    await waitFor(() => expect(server.sent('GET', '/api/stories').length).toBeGreaterThan(0));
    const stories = server.sent('GET', '/api/stories');
    expect(stories.every((request) => request.headers.get('Authorization') === 'Bearer token-1')).toBe(true);
  });

  it('remembers the story the user had open under that user, and forgets it at logout', async () => {
    multiUserServer();
    const user = userEvent.setup();
    renderApp();
    await logIn(user, 'right');
    await screen.findByRole('heading', { name: 'Write a story' });
    window.location.hash = '#/story/7';
    expect(await screen.findByRole('heading', { name: STORY.title })).toBeInTheDocument();
    await waitFor(() => expect(lastStoryOf(`user-${USER.id}`)).toBe(7));
    expect(screen.getByRole('link', { name: 'Story' })).toHaveAttribute('href', '#/story/7');
    expect(lastStoryOf('local')).toBeNull();

    await user.click(screen.getByRole('button', { name: 'Log out' }));
    expect(await screen.findByRole('heading', { name: 'Log in' })).toBeInTheDocument();
    expect(lastStoryOf(`user-${USER.id}`)).toBeNull();
  });

  it('explains a refused login and stays on the login page', async () => {
    multiUserServer();
    const user = userEvent.setup();
    renderApp();

    await logIn(user, 'wrong');

    expect(await screen.findByTestId('login-error')).toHaveTextContent('Not logged in: Wrong username or password.');
    expect(screen.getByRole('button', { name: 'Log in' })).toBeEnabled();
  });

  it('returns to the login page when the server answers 401 to a stale token', async () => {
    multiUserServer();
    setToken('expired-token');
    renderApp();

    expect(await screen.findByRole('heading', { name: 'Log in' })).toBeInTheDocument();
  });

  it('logs out back to the login page', async () => {
    const server = multiUserServer();
    const user = userEvent.setup();
    renderApp();
    await logIn(user, 'right');

    await user.click(await screen.findByRole('button', { name: 'Log out' }));

    expect(await screen.findByRole('heading', { name: 'Log in' })).toBeInTheDocument();
    expect(server.sent('POST', '/api/auth/logout')).toHaveLength(1);
    expect(sessionStorage.length).toBe(0);
  });
});

describe('App in single-user mode', () => {
  it('moves the old LM Studio settings to the server once, even under StrictMode', async () => {
    localStorage.setItem('lmstudioSettings', JSON.stringify({ url: 'http://localhost:1234', model: 'mistral-7b' }));
    const server = fakeServer({
      'GET /api/auth/mode': () => json({ mode: 'single' }),
      'GET /api/settings/llm': () => json(NOTHING_SAVED),
      'POST /api/settings/llm': () => json({ ...NOTHING_SAVED, backend_type: 'lmstudio', default_model: 'mistral-7b' }),
      'GET /api/stories': () => json({ stories: [] }),
    });
    renderApp();

    await waitFor(() => expect(localStorage.getItem('lmstudioSettings')).toBeNull());
    expect(server.sent('POST', '/api/settings/llm')).toHaveLength(1);
    expect(screen.queryByRole('heading', { name: 'Log in' })).not.toBeInTheDocument();
    // The migrated settings reach the page: no "set up a backend" notice.
    await waitFor(() => expect(screen.queryByTestId('backend-missing')).not.toBeInTheDocument());
  });

  it('navigates between Story and Settings from the header, and the page title names the page', async () => {
    fakeServer({
      'GET /api/auth/mode': () => json({ mode: 'single' }),
      'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
      'GET /api/settings/llm/backends': () => json(BACKENDS),
      'GET /api/settings/llm/status': () => json(CONNECTED_STATUS),
      'GET /api/settings/llm/models': () => json({ backend_type: 'ollama', models: [], default_model: null, details: [] }),
      'GET /api/stories': () => json({ stories: [] }),
    });
    const user = userEvent.setup();
    renderApp();

    await user.click(await screen.findByRole('link', { name: 'Settings' }));
    expect(await screen.findByRole('heading', { name: 'Settings' })).toBeInTheDocument();
    expect(document.title).toBe('Settings — Taleweaver');
    await user.click(screen.getByRole('link', { name: 'Story' }));
    expect(await screen.findByRole('heading', { name: 'Write a story' })).toBeInTheDocument();
    // The Story page names itself after the story.
    await waitFor(() => expect(document.title).toBe('New story — Taleweaver'));
  });

  it('opens a new story (#/) and a saved one (#/story/<id>) without a router warning', async () => {
    const warn = vi.spyOn(console, 'warn');
    fakeServer({
      'GET /api/auth/mode': () => json({ mode: 'single' }),
      'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
      'GET /api/stories': () => json({ stories: [] }),
      'GET /api/stories/7': () => apiError(404, 'not_found', 'No story 7.'),
    });
    renderApp();
    expect(await screen.findByRole('heading', { name: 'Write a story' })).toBeInTheDocument();
    window.location.hash = '#/story/7';
    expect(await screen.findByTestId('story-load-error')).toHaveTextContent('No story 7.');

    expect(warn.mock.calls.flat().join('\n')).not.toContain('Matched leaf route');
  });

  it('says when the Taleweaver server cannot be reached, and retries', async () => {
    let up = false;
    fakeServer({ 'GET /api/auth/mode': () => (up ? json({ mode: 'multi' }) : Promise.reject(new TypeError('Failed to fetch'))) });
    const user = userEvent.setup();
    renderApp();

    expect(await screen.findByRole('alert')).toHaveTextContent('Cannot reach the Taleweaver server at http://localhost:3000 — is it running?');
    up = true;
    await user.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('heading', { name: 'Log in' })).toBeInTheDocument();
  });
});
