import { focusManager } from '@tanstack/react-query';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deferred } from '../../../test/deferred';
import { BACKENDS, CONNECTED_STATUS, CONNECTED_TEST, OLLAMA_ACTIVE, UNREACHABLE_TEST } from '../../../test/fixtures';
import { renderPage } from '../../../test/render';
import { apiError, fakeServer, json, type SentRequest } from '../../../test/server';
import { SettingsPage } from './SettingsPage';

const MODELS = {
  'GET /api/settings/llm/models': (request: SentRequest) =>
    json({
      backend_type: request.query.get('backend_type'),
      models:
        request.query.get('backend_type') === 'chatgpt'
          ? ['gpt-4', 'gpt-4o']
          : request.query.get('refresh')
            ? ['llama2', 'phi3']
            : ['llama2', 'codellama:13b'],
      default_model: request.query.get('backend_type') === 'chatgpt' ? 'gpt-4' : 'llama2',
      details: [],
    }),
};

function settingsServer(routes: Parameters<typeof fakeServer>[0] = {}) {
  return fakeServer({
    'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
    'GET /api/settings/llm/backends': () => json(BACKENDS),
    'GET /api/settings/llm/status': () => json(CONNECTED_STATUS),
    ...MODELS,
    ...routes,
  });
}

async function renderSettings() {
  const user = userEvent.setup();
  const view = renderPage(<SettingsPage />, { route: '/settings' });
  await screen.findByTestId('backend-select');
  return { user, ...view };
}

function optionTexts(select: HTMLElement): string[] {
  return within(select)
    .getAllByRole('option')
    .map((option) => option.textContent ?? '');
}

describe('SettingsPage form', () => {
  it('opens on the active backend with its saved URL and offers every backend the server describes', async () => {
    settingsServer();
    await renderSettings();

    const backend = screen.getByLabelText('Backend');
    expect(backend).toHaveValue('ollama');
    expect(optionTexts(backend)).toEqual(['LM Studio', 'Ollama', 'ChatGPT', 'OpenAI-compatible server']);
    expect(screen.getByLabelText('Server URL')).toHaveValue('http://localhost:11434');
  });

  it('keeps what was typed for each backend when switching away and back', async () => {
    settingsServer();
    const { user } = await renderSettings();
    const backend = screen.getByTestId('backend-select');

    await user.clear(screen.getByTestId('url-input'));
    await user.type(screen.getByTestId('url-input'), 'http://gpu-box:11434');
    await user.selectOptions(backend, 'LM Studio');
    expect(screen.getByTestId('url-input')).toHaveValue('http://localhost:1234');
    await user.clear(screen.getByTestId('url-input'));
    await user.type(screen.getByTestId('url-input'), 'http://192.168.32.1:1234');
    await user.selectOptions(backend, 'ChatGPT');
    await user.type(screen.getByTestId('api-key-input'), 'sk-new');

    await user.selectOptions(backend, 'Ollama');
    expect(screen.getByTestId('url-input')).toHaveValue('http://gpu-box:11434');
    await user.selectOptions(backend, 'LM Studio');
    expect(screen.getByTestId('url-input')).toHaveValue('http://192.168.32.1:1234');
    await user.selectOptions(backend, 'ChatGPT');
    expect(screen.getByTestId('api-key-input')).toHaveValue('sk-new');
  });

  it('shows the stored key mask, and a key left blank is not sent on save', async () => {
    const server = settingsServer({ 'POST /api/settings/llm': () => json(OLLAMA_ACTIVE) });
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'ChatGPT');

    const keyInput = screen.getByLabelText('API key');
    expect(keyInput).toHaveAttribute('type', 'password');
    expect(keyInput).toHaveValue('');
    expect(keyInput).toHaveAttribute('placeholder', 'sk-***************f — leave blank to keep');
    expect(screen.getByText(/Leave blank to keep it/)).toBeInTheDocument();

    await user.click(screen.getByTestId('save-button'));
    await screen.findByText('Saved. ChatGPT is now the active backend.');
    const body = server.sent('POST', '/api/settings/llm')[0].body as { backend_type: string; config: Record<string, unknown> };
    expect(body.backend_type).toBe('chatgpt');
    expect(body.config).not.toHaveProperty('api_key');
    expect(body.config.base_url).toBe('https://api.openai.com/v1');
  });

  it('sends a newly typed key, then empties the field once it is stored', async () => {
    const server = settingsServer({ 'POST /api/settings/llm': () => json(OLLAMA_ACTIVE) });
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'ChatGPT');

    await user.type(screen.getByTestId('api-key-input'), 'sk-proj-0123456789');
    await user.click(screen.getByTestId('save-button'));

    await screen.findByTestId('save-result');
    expect(server.sent('POST', '/api/settings/llm')[0].body).toMatchObject({ config: { api_key: 'sk-proj-0123456789' } });
    expect(screen.getByTestId('api-key-input')).toHaveValue('');
  });

  it('disables Save while saving, then says which backend is now active', async () => {
    const answer = deferred<Response>();
    const server = settingsServer({ 'POST /api/settings/llm': () => answer.promise });
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'LM Studio');

    await user.click(screen.getByTestId('save-button'));
    expect(screen.getByTestId('save-button')).toBeDisabled();
    expect(screen.getByTestId('save-button')).toHaveTextContent('Saving…');
    await user.click(screen.getByTestId('save-button'));

    answer.resolve(json({ ...OLLAMA_ACTIVE, backend_type: 'lmstudio' }));
    expect(await screen.findByTestId('save-result')).toHaveTextContent('Saved. LM Studio is now the active backend.');
    expect(screen.getByTestId('save-button')).toBeEnabled();
    const saves = server.sent('POST', '/api/settings/llm');
    expect(saves).toHaveLength(1);
    expect(saves[0].body).toEqual({
      backend_type: 'lmstudio',
      config: { url: 'http://localhost:1234', connect_timeout: 5, first_token_timeout: 300, idle_timeout: 60 },
      default_model: null,
    });
  });

  it('shows a validation error next to the field it names', async () => {
    settingsServer({
      'POST /api/settings/llm': () =>
        apiError(400, 'validation_error', 'Enter a URL such as http://localhost:11434.', { field: 'config.url' }),
    });
    const { user } = await renderSettings();

    await user.click(screen.getByTestId('save-button'));

    expect(await screen.findByTestId('url-input-error')).toHaveTextContent('Enter a URL such as http://localhost:11434.');
    expect(screen.getByTestId('url-input')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByTestId('url-input')).toHaveAccessibleDescription(/Enter a URL such as/);
    expect(screen.getByTestId('save-result')).toHaveTextContent('Not saved — fix the field marked above.');
  });

  it('opens the advanced options to show an error on a timeout', async () => {
    settingsServer({
      'POST /api/settings/llm': () =>
        apiError(400, 'validation_error', 'The idle timeout must be between 1 and 3600 seconds.', { field: 'config.idle_timeout' }),
    });
    const { user } = await renderSettings();
    expect(screen.queryByLabelText('Idle timeout (seconds)')).not.toBeInTheDocument();

    await user.click(screen.getByTestId('save-button'));

    expect(await screen.findByTestId('idle-timeout-input-error')).toHaveTextContent('between 1 and 3600 seconds');
    expect(screen.getByLabelText('Idle timeout (seconds)')).toHaveValue(60);
  });
});

describe('SettingsPage connection test', () => {
  it('shows status, error, hint and every diagnosis step of a failed test', async () => {
    const answer = deferred<Response>();
    const server = settingsServer({ 'POST /api/settings/llm/test': () => answer.promise });
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'LM Studio');

    await user.click(screen.getByTestId('test-connection-button'));
    expect(screen.getByTestId('test-connection-button')).toBeDisabled();
    expect(screen.getByText('Testing the connection to LM Studio…')).toBeInTheDocument();
    answer.resolve(json(UNREACHABLE_TEST));

    const result = await screen.findByTestId('test-result');
    expect(within(result).getByTestId('test-status')).toHaveTextContent('Disconnected');
    expect(result).toHaveTextContent('LM Studio did not answer at http://localhost:1234.');
    expect(result).toHaveTextContent('turn on "Serve on Local Network"');
    const steps = within(result)
      .getAllByRole('listitem')
      .map((step) => step.textContent);
    // Each step reads as one sentence-like item to a screen reader, not as run-together words.
    expect(steps).toEqual([
      'Address resolution: OK, 0.4 ms, localhost',
      'TCP connect: Failed, 1.1 ms, Connection refused',
      'HTTP answer: Skipped',
    ]);
    expect(server.sent('POST', '/api/settings/llm/test')[0].body).toMatchObject({
      backend_type: 'lmstudio',
      config: { url: 'http://localhost:1234' },
    });
  });

  it('fills the model list from a successful test of an unsaved backend', async () => {
    settingsServer({ 'POST /api/settings/llm/test': () => json(CONNECTED_TEST) });
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'LM Studio');
    expect(screen.getByText("Test the connection to list LM Studio's models.")).toBeInTheDocument();

    await user.click(screen.getByTestId('test-connection-button'));

    expect(await screen.findByTestId('test-status')).toHaveTextContent('Connected');
    expect(screen.getByTestId('test-result')).toHaveTextContent('14 ms · 2 models · version 0.3.5');
    expect(optionTexts(screen.getByTestId('model-select'))).toEqual(['— Choose a model —', 'mistral-7b', 'qwen2.5-14b']);
  });

  it('refreshes the status dashboard right after a connection test, not at the next poll', async () => {
    const server = settingsServer({ 'POST /api/settings/llm/test': () => json(CONNECTED_TEST) });
    const { user } = await renderSettings();
    await screen.findByTestId('status-connection');
    const before = server.sent('GET', '/api/settings/llm/status').length;

    await user.click(screen.getByTestId('test-connection-button'));

    await screen.findByTestId('test-status');
    await waitFor(() => expect(server.sent('GET', '/api/settings/llm/status').length).toBe(before + 1));
  });

  it('shows a malformed-request error from the test endpoint', async () => {
    settingsServer({
      'POST /api/settings/llm/test': () =>
        apiError(400, 'validation_error', 'The URL must start with http:// or https://.', { field: 'config.url' }),
    });
    const { user } = await renderSettings();

    await user.click(screen.getByTestId('test-connection-button'));

    expect(await screen.findByTestId('url-input-error')).toHaveTextContent('The URL must start with http:// or https://.');
    expect(screen.getByTestId('url-input')).toHaveAttribute('aria-invalid', 'true');
  });
});

describe('SettingsPage models', () => {
  it("lists the saved backend's models, keeps its default and refreshes on request", async () => {
    const server = settingsServer();
    const { user } = await renderSettings();
    const select = screen.getByTestId('model-select');

    await waitFor(() => expect(optionTexts(select)).toEqual(['— Choose a model —', 'llama2', 'codellama:13b']));
    expect(select).toHaveValue('llama2');
    expect(server.sent('GET', '/api/settings/llm/models')[0].query.get('backend_type')).toBe('ollama');

    await user.click(screen.getByTestId('refresh-models-button'));

    await waitFor(() => expect(optionTexts(select)).toEqual(['— Choose a model —', 'llama2', 'phi3']));
    expect(server.sent('GET', '/api/settings/llm/models').at(-1)?.query.get('refresh')).toBe('1');
  });

  it('explains why the model list is missing, with the hint', async () => {
    settingsServer({
      'GET /api/settings/llm/models': () =>
        apiError(502, 'backend_unreachable', 'Ollama did not answer at http://localhost:11434.', { hint: 'Is `ollama serve` running?' }),
    });
    await renderSettings();

    const error = await screen.findByTestId('models-error');
    expect(error).toHaveTextContent('Could not list models: Ollama did not answer at http://localhost:11434.');
    expect(error).toHaveTextContent('Is `ollama serve` running?');
  });
});

describe('StatusDashboard', () => {
  afterEach(() => {
    vi.useRealTimers();
    focusManager.setFocused(undefined);
  });

  it('shows the active backend, connection, model, model state and last test', async () => {
    settingsServer();
    await renderSettings();

    expect(await screen.findByTestId('status-backend')).toHaveTextContent('Ollama');
    expect(screen.getByTestId('status-connection')).toHaveTextContent('Connected');
    expect(screen.getByTestId('status-model')).toHaveTextContent('llama2');
    expect(screen.getByTestId('status-model-state')).toHaveTextContent('Loaded');
    expect(screen.getByTestId('status-last-test')).toHaveTextContent(
      `${new Date(CONNECTED_STATUS.last_tested_at!).toLocaleString()} (passed)`,
    );
  });

  it('polls every few seconds while the page is visible, and not while it is hidden', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let answers = 0;
    const server = settingsServer({
      'GET /api/settings/llm/status': () =>
        json(
          ++answers === 1
            ? CONNECTED_STATUS
            : { ...CONNECTED_STATUS, status: 'disconnected', error: 'Ollama stopped answering.', hint: 'Start it again.' },
        ),
    });
    await renderSettings();
    expect(await screen.findByTestId('status-connection')).toHaveTextContent('Connected');

    await act(() => vi.advanceTimersByTimeAsync(5000));
    await waitFor(() => expect(screen.getByTestId('status-connection')).toHaveTextContent('Disconnected'));
    expect(screen.getByTestId('status-error')).toHaveTextContent('Ollama stopped answering.');

    focusManager.setFocused(false);
    const polls = server.sent('GET', '/api/settings/llm/status').length;
    await act(() => vi.advanceTimersByTimeAsync(15000));
    expect(server.sent('GET', '/api/settings/llm/status')).toHaveLength(polls);
  });
});
