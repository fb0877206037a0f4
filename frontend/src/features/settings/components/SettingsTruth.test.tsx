// Issue 12: what the Settings page shows is always the truth about what will happen.
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BACKENDS, CONNECTED_STATUS, CONNECTED_TEST, UNREACHABLE_TEST } from '../../../test/fixtures';
import { renderPage } from '../../../test/render';
import { apiError, fakeServer, json, type SentRequest } from '../../../test/server';
import type { LLMSettings, TestConnectionResult } from '../../../types/api';
import { SettingsPage } from './SettingsPage';

const timeouts = { connect_timeout: 5, first_token_timeout: 300, idle_timeout: 60 };

function lmStudioSaved(url = 'http://localhost:1234', model: string | null = 'qwen2.5-7b-instruct'): LLMSettings {
  const config = { url, ...timeouts };
  return {
    backend_type: 'lmstudio',
    config,
    default_model: model,
    updated_at: '2026-12-01T08:00:00Z',
    backends: {
      lmstudio: { config, default_model: model, is_active: true, updated_at: '2026-12-01T08:00:00Z', last_test: null },
    },
  };
}

const SAVED_SERVER_MODELS = ['qwen2.5-7b-instruct', 'mistral-7b'];

function connected(models: string[]): TestConnectionResult {
  return { ...CONNECTED_TEST, models };
}

/** A backend whose answers each test can replace; it records every request. */
function settingsServer(routes: Parameters<typeof fakeServer>[0] = {}) {
  return fakeServer({
    'GET /api/settings/llm': () => json(lmStudioSaved()),
    'GET /api/settings/llm/backends': () => json(BACKENDS),
    'GET /api/settings/llm/status': () => json({ ...CONNECTED_STATUS, backend_type: 'lmstudio', active_model: 'qwen2.5-7b-instruct' }),
    'GET /api/settings/llm/models': (request: SentRequest) =>
      json({ backend_type: request.query.get('backend_type'), models: SAVED_SERVER_MODELS, default_model: null, details: [] }),
    'POST /api/settings/llm/test': () => json(connected(SAVED_SERVER_MODELS)),
    ...routes,
  });
}

async function renderSettings() {
  const user = userEvent.setup();
  const view = renderPage(<SettingsPage />, { route: '/settings' });
  await screen.findByTestId('backend-select');
  await waitFor(() => expect(screen.getByTestId('model-select')).toHaveValue('qwen2.5-7b-instruct'));
  return { user, ...view };
}

async function typeUrl(user: ReturnType<typeof userEvent.setup>, url: string) {
  await user.clear(screen.getByTestId('url-input'));
  await user.type(screen.getByTestId('url-input'), url);
}

function optionTexts(): string[] {
  return within(screen.getByTestId('model-select'))
    .getAllByRole('option')
    .map((option) => option.textContent ?? '');
}

describe('1. the default model belongs to the server in the form', () => {
  it("after a URL change and a test, offers the new server's models and flags the old default before Save", async () => {
    const server = settingsServer({
      'POST /api/settings/llm/test': () => json(connected(['llama-3.2-1b'])),
      'POST /api/settings/llm': () => json(lmStudioSaved('http://127.0.0.1:1235', 'llama-3.2-1b')),
    });
    const { user } = await renderSettings();

    await typeUrl(user, 'http://127.0.0.1:1235');
    await user.click(screen.getByTestId('test-connection-button'));
    await screen.findByTestId('test-status');

    expect(optionTexts()).toEqual(['— Choose a model —', 'llama-3.2-1b', 'qwen2.5-7b-instruct (not offered by this server)']);
    expect(screen.getByTestId('model-select-error')).toHaveTextContent('“qwen2.5-7b-instruct” is not offered by this LM Studio server');
    await user.click(screen.getByTestId('save-button'));
    expect(server.sent('POST', '/api/settings/llm')).toHaveLength(0);
    expect(screen.getByTestId('model-select')).toHaveFocus();
    expect(screen.queryByText(/^Saved\./)).not.toBeInTheDocument();

    await user.selectOptions(screen.getByTestId('model-select'), 'llama-3.2-1b');
    expect(screen.queryByTestId('model-select-error')).not.toBeInTheDocument();
    await user.click(screen.getByTestId('save-button'));
    expect(await screen.findByText('Saved. LM Studio is now the active backend.')).toBeInTheDocument();
    expect(server.sent('POST', '/api/settings/llm')[0].body).toMatchObject({ default_model: 'llama-3.2-1b' });
    // Neither the old server's list (still cached a moment ago) nor the blocked attempt says otherwise.
    await waitFor(() => expect(screen.getByTestId('test-status')).toHaveTextContent('Connected'));
    expect(screen.queryByText(/Not saved/)).not.toBeInTheDocument();
    expect(screen.queryByTestId('model-select-error')).not.toBeInTheDocument();
  });

  it("does not offer the saved server's list for an edited, untested URL", async () => {
    settingsServer();
    const { user } = await renderSettings();
    expect(optionTexts()).toContain('mistral-7b');

    await typeUrl(user, 'http://127.0.0.1:1235');

    expect(optionTexts()).not.toContain('mistral-7b');
    expect(screen.getByTestId('model-hint')).toHaveTextContent('Test the connection to list the models of the server in the form.');
  });

  it('warns when saving without a default model', async () => {
    settingsServer({ 'POST /api/settings/llm': () => json(lmStudioSaved('http://localhost:1234', null)) });
    const { user } = await renderSettings();

    await user.selectOptions(screen.getByTestId('model-select'), '');
    await user.click(screen.getByTestId('save-button'));

    expect(await screen.findByTestId('save-warning')).toHaveTextContent(
      'No default model is chosen: stories cannot be written until you choose one and save again.',
    );
  });
});

describe('2. a result shown belongs to the values in the form', () => {
  it('takes the "Connected" box off the screen once the URL is edited, and brings no stale one back', async () => {
    settingsServer();
    const { user } = await renderSettings();
    await user.click(screen.getByTestId('test-connection-button'));
    expect(await screen.findByTestId('test-status')).toHaveTextContent('Connected');

    await typeUrl(user, 'http://127.0.0.1:9');

    expect(screen.queryByTestId('test-result')).not.toBeInTheDocument();
    expect(screen.getByTestId('test-stale')).toHaveTextContent('The values have changed since the last test');
  });

  it('takes "Saved." off the screen after a further unsaved edit', async () => {
    settingsServer({ 'POST /api/settings/llm': () => json(lmStudioSaved()) });
    const { user } = await renderSettings();
    await user.click(screen.getByTestId('save-button'));
    expect(await screen.findByTestId('save-result')).toHaveTextContent('Saved. LM Studio is now the active backend.');

    await typeUrl(user, 'http://127.0.0.1:1235');

    expect(screen.queryByText('Saved. LM Studio is now the active backend.')).not.toBeInTheDocument();
  });

  describe('with timers', () => {
    afterEach(() => vi.useRealTimers());

    it('clears "Could not list models" by itself once the backend answers again', async () => {
      vi.useFakeTimers({ shouldAdvanceTime: true });
      let down = true;
      settingsServer({
        'GET /api/settings/llm/models': (request) =>
          down
            ? apiError(502, 'backend_unreachable', 'LM Studio did not answer at http://localhost:1234: the connection was refused.')
            : json({ backend_type: request.query.get('backend_type'), models: SAVED_SERVER_MODELS, default_model: null, details: [] }),
      });
      renderPage(<SettingsPage />, { route: '/settings' });
      expect(await screen.findByTestId('models-error')).toHaveTextContent('Could not list models');

      down = false;
      await act(() => vi.advanceTimersByTimeAsync(5000));

      await waitFor(() => expect(screen.queryByTestId('models-error')).not.toBeInTheDocument());
      expect(optionTexts()).toContain('mistral-7b');
    });
  });
});

describe('3. "Last test" is the test of what is saved', () => {
  it('tests the saved values right after a Save, so the status shows that test', async () => {
    let lastTest: string | null = null;
    const server = settingsServer({
      'POST /api/settings/llm': () => json(lmStudioSaved('http://127.0.0.1:1235', 'llama-3.2-1b')),
      'POST /api/settings/llm/test': () => {
        lastTest = '2026-12-01T08:30:00Z';
        return json(connected(['llama-3.2-1b']));
      },
      'GET /api/settings/llm/status': () =>
        json({ ...CONNECTED_STATUS, backend_type: 'lmstudio', last_tested_at: lastTest, last_test_status: lastTest && 'connected' }),
    });
    const { user } = await renderSettings();
    expect(screen.getByTestId('status-last-test')).toHaveTextContent('Never');
    await typeUrl(user, 'http://127.0.0.1:1235');
    await user.click(screen.getByTestId('test-connection-button'));
    await screen.findByTestId('test-status');
    await user.selectOptions(screen.getByTestId('model-select'), 'llama-3.2-1b');

    await user.click(screen.getByTestId('save-button'));

    await waitFor(() => expect(server.sent('POST', '/api/settings/llm/test')).toHaveLength(2));
    expect(server.sent('POST', '/api/settings/llm/test')[1].body).toEqual({
      backend_type: 'lmstudio',
      config: { url: 'http://127.0.0.1:1235', ...timeouts },
    });
    await waitFor(() => expect(screen.getByTestId('status-last-test')).toHaveTextContent('(passed)'));
    expect(screen.getByTestId('test-status')).toHaveTextContent('Connected');
  });
});

describe('4. no unexplained states', () => {
  it('Refresh Models works before Save: it lists the models of the unsaved values', async () => {
    const server = settingsServer({ 'POST /api/settings/llm/test': () => json(connected(['llama-3.2-1b'])) });
    const { user } = await renderSettings();
    await typeUrl(user, 'http://127.0.0.1:1235');

    expect(screen.getByTestId('refresh-models-button')).toBeEnabled();
    await user.click(screen.getByTestId('refresh-models-button'));

    await waitFor(() => expect(optionTexts()).toContain('llama-3.2-1b'));
    expect(server.sent('POST', '/api/settings/llm/test')[0].body).toMatchObject({ config: { url: 'http://127.0.0.1:1235' } });
  });

  it('an empty URL is an error for Test and Save, not a silent "use the saved URL"', async () => {
    const server = settingsServer();
    const { user } = await renderSettings();
    await user.clear(screen.getByTestId('url-input'));

    await user.click(screen.getByTestId('test-connection-button'));
    expect(screen.getByTestId('url-input-error')).toHaveTextContent('Enter the Server URL.');
    await user.click(screen.getByTestId('save-button'));

    expect(server.sent('POST', '/api/settings/llm/test')).toHaveLength(0);
    expect(server.sent('POST', '/api/settings/llm')).toHaveLength(0);
  });

  it('Enter in the URL field tests the connection; it does not save and activate the backend', async () => {
    const server = settingsServer();
    const { user } = await renderSettings();

    await user.type(screen.getByTestId('url-input'), '{Enter}');

    await waitFor(() => expect(server.sent('POST', '/api/settings/llm/test')).toHaveLength(1));
    expect(server.sent('POST', '/api/settings/llm')).toHaveLength(0);
  });

  it('keeps the drafts after leaving the page and coming back, without writing a key to storage', async () => {
    settingsServer();
    const { user, unmount } = await renderSettings();
    await typeUrl(user, 'http://gpu-box:1234');
    await user.selectOptions(screen.getByTestId('backend-select'), 'ChatGPT');
    await user.type(screen.getByTestId('api-key-input'), 'sk-typed-not-saved-123');
    unmount();

    await renderSettingsAgain();

    expect(screen.getByTestId('backend-select')).toHaveValue('chatgpt');
    expect(screen.getByTestId('api-key-input')).toHaveValue('sk-typed-not-saved-123');
    await user.selectOptions(screen.getByTestId('backend-select'), 'LM Studio');
    expect(screen.getByTestId('url-input')).toHaveValue('http://gpu-box:1234');
    expect(JSON.stringify({ ...sessionStorage })).toContain('http://gpu-box:1234');
    expect(JSON.stringify({ ...sessionStorage, ...localStorage })).not.toContain('sk-typed-not-saved-123');
  });

  it('marks every timeout error at once, and moves focus to the first', async () => {
    const server = settingsServer();
    const { user } = await renderSettings();
    await user.click(screen.getByTestId('advanced-toggle'));
    for (const [testId, value] of [
      ['connect-timeout-input', '0'],
      ['first-token-timeout-input', ''],
      ['idle-timeout-input', '99999'],
    ]) {
      await user.clear(screen.getByTestId(testId));
      if (value) await user.type(screen.getByTestId(testId), value);
    }

    await user.click(screen.getByTestId('save-button'));

    expect(screen.getByTestId('connect-timeout-input-error')).toHaveTextContent('from 0.1 to 3600');
    expect(screen.getByTestId('first-token-timeout-input-error')).toHaveTextContent('from 0.1 to 3600');
    expect(screen.getByTestId('idle-timeout-input-error')).toHaveTextContent('from 0.1 to 3600');
    expect(screen.getByTestId('connect-timeout-input')).toHaveFocus();
    expect(server.sent('POST', '/api/settings/llm')).toHaveLength(0);
  });

  it('moves focus to the field the server names after a failed Save', async () => {
    settingsServer({
      'POST /api/settings/llm': () => apiError(400, 'validation_error', 'host.invalid is not an allowed backend host.', { field: 'config.url' }),
    });
    const { user } = await renderSettings();

    await user.click(screen.getByTestId('save-button'));

    await waitFor(() => expect(screen.getByTestId('url-input')).toHaveFocus());
    expect(screen.getByTestId('url-input-error')).toHaveTextContent('host.invalid is not an allowed backend host.');
  });

  it('shows no latency for a failed connection, in the test box or the status panel', async () => {
    settingsServer({
      'POST /api/settings/llm/test': () => json({ ...UNREACHABLE_TEST, latency_ms: 0.5 }),
      'GET /api/settings/llm/status': () =>
        json({ ...CONNECTED_STATUS, backend_type: 'lmstudio', status: 'disconnected', latency_ms: 0.5, error: 'refused', hint: null }),
    });
    const { user } = await renderSettings();
    await user.click(screen.getByTestId('test-connection-button'));

    const summary = (await screen.findByTestId('test-status')).parentElement!;
    expect(summary).toHaveTextContent('Disconnected');
    expect(summary).not.toHaveTextContent('0.5 ms');
    expect(screen.getByTestId('status-connection')).toHaveTextContent('Disconnected');
    expect(screen.getByTestId('status-connection')).not.toHaveTextContent('ms');
  });

  it('says a refused model list once, pointing at the status panel, instead of repeating it', async () => {
    const refusal = 'LM Studio did not answer at http://localhost:1234: the connection was refused.';
    settingsServer({
      'GET /api/settings/llm/status': () =>
        json({ ...CONNECTED_STATUS, backend_type: 'lmstudio', status: 'disconnected', error: refusal, hint: 'Start the server in LM Studio.' }),
      'GET /api/settings/llm/models': () => apiError(502, 'backend_unreachable', refusal, { hint: 'Start the server in LM Studio.' }),
    });
    renderPage(<SettingsPage />, { route: '/settings' });

    expect(await screen.findByTestId('status-error')).toHaveTextContent(refusal);
    await waitFor(() => expect(screen.getByTestId('models-error')).toHaveTextContent('see Status above'));
    expect(screen.getAllByText(refusal, { exact: false })).toHaveLength(1);
  });

  it('says a refused connection once in the test box, not again in the failed step', async () => {
    const refusal = 'LM Studio did not answer at http://localhost:1234: the connection was refused.';
    settingsServer({
      'POST /api/settings/llm/test': () =>
        json({
          ...UNREACHABLE_TEST,
          error: refusal,
          steps: [{ name: 'connect', label: 'TCP connect', status: 'failed', duration_ms: 2.1, detail: refusal }],
        }),
    });
    const { user } = await renderSettings();
    await user.click(screen.getByTestId('test-connection-button'));

    const result = await screen.findByTestId('test-result');
    expect(within(result).getAllByText(refusal, { exact: false })).toHaveLength(1);
    expect(within(result).getByRole('listitem')).toHaveTextContent('TCP connect: Failed, 2.1 ms');
  });

  it('asks for the one-token generation only when the box is ticked, and hides the step otherwise', async () => {
    const skipped = { name: 'generate', label: 'One-token generation', status: 'skipped' as const, duration_ms: null, detail: 'not requested' };
    const server = settingsServer({
      'POST /api/settings/llm/test': () => json({ ...connected(SAVED_SERVER_MODELS), steps: [...CONNECTED_TEST.steps, skipped] }),
    });
    const { user } = await renderSettings();

    await user.click(screen.getByTestId('test-connection-button'));
    await screen.findByTestId('test-status');
    expect(screen.getByTestId('test-steps')).not.toHaveTextContent('One-token generation');
    expect(server.sent('POST', '/api/settings/llm/test')[0].body).not.toHaveProperty('generate');

    await user.click(screen.getByLabelText(/Also generate one token/));
    await user.click(screen.getByTestId('test-connection-button'));

    await waitFor(() => expect(server.sent('POST', '/api/settings/llm/test')).toHaveLength(2));
    expect(server.sent('POST', '/api/settings/llm/test')[1].body).toMatchObject({ generate: true, model: 'qwen2.5-7b-instruct' });
  });
});

async function renderSettingsAgain() {
  renderPage(<SettingsPage />, { route: '/settings' });
  await screen.findByTestId('backend-select');
}
