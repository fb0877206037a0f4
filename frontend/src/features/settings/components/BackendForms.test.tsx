// Issue 9: the Settings forms are drawn from the server's backend descriptors, and a stored key
// is only sent to the address it was saved for (issue 8's rule, as the form shows it).
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { BACKENDS, CONNECTED_STATUS, NOTHING_SAVED, OLLAMA_ACTIVE } from '../../../test/fixtures';
import { renderPage } from '../../../test/render';
import { apiError, fakeServer, json, type SentRequest } from '../../../test/server';
import type { BackendList, TestConnectionResult } from '../../../types/api';
import { SettingsPage } from './SettingsPage';

function settingsServer(routes: Parameters<typeof fakeServer>[0] = {}, backends: BackendList = BACKENDS) {
  return fakeServer({
    'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
    'GET /api/settings/llm/backends': () => json(backends),
    'GET /api/settings/llm/status': () => json(CONNECTED_STATUS),
    'GET /api/settings/llm/models': (request: SentRequest) =>
      json({ backend_type: request.query.get('backend_type'), models: ['llama2', 'gpt-4'], default_model: null, details: [] }),
    ...routes,
  });
}

async function renderSettings() {
  const user = userEvent.setup();
  const view = renderPage(<SettingsPage />, { route: '/settings' });
  await screen.findByTestId('backend-select');
  return { user, ...view };
}

const KEY_REQUIRED_TEST: TestConnectionResult = {
  status: 'error',
  backend_type: 'chatgpt',
  field: 'config.api_key',
  models: [],
  latency_ms: null,
  tested_at: '2026-12-01T08:00:00Z',
  server_info: null,
  resolved_url: null,
  error: 'Enter the API key again for https://eu.example.test/v1: the stored key is only sent to the address it was saved for.',
  error_code: 'api_key_required',
  hint: null,
  steps: [],
};

describe('Settings forms from the backend descriptors', () => {
  it('draws the OpenAI-compatible form from its descriptor: base URL with its default, an optional key, timeouts under advanced', async () => {
    const server = settingsServer({ 'POST /api/settings/llm': () => json({ ...OLLAMA_ACTIVE, backend_type: 'openai_compatible' }) });
    const { user } = await renderSettings();

    await user.selectOptions(screen.getByTestId('backend-select'), 'OpenAI-compatible server');

    expect(screen.getByText(/llama.cpp \(llama-server\), vLLM, KoboldCpp/)).toBeInTheDocument();
    expect(screen.getByLabelText('Base URL')).toHaveValue('http://localhost:8080/v1');
    expect(screen.getByLabelText('API key')).toHaveAttribute('placeholder', 'optional');
    expect(screen.getByLabelText('API key')).not.toBeRequired();
    expect(screen.queryByLabelText('Connect timeout (seconds)')).not.toBeInTheDocument();
    await user.click(screen.getByTestId('advanced-toggle'));
    expect(screen.getByLabelText('First-token timeout (seconds)')).toHaveValue(300);

    await user.click(screen.getByTestId('save-button'));
    await screen.findByText('Saved. OpenAI-compatible server is now the active backend.');
    expect(server.sent('POST', '/api/settings/llm')[0].body).toEqual({
      backend_type: 'openai_compatible',
      config: { base_url: 'http://localhost:8080/v1', connect_timeout: 5, first_token_timeout: 300, idle_timeout: 60 },
      default_model: null,
    });
  });

  it('draws a backend this bundle has never heard of, with every kind of field, and sends its values by name', async () => {
    const kobold: BackendList['backends'][number] = {
      type: 'koboldcpp' as never,
      label: 'KoboldCpp',
      local: true,
      description: 'KoboldCpp on your machine',
      fields: [
        { name: 'endpoint', label: 'Endpoint', kind: 'url', required: true, secret: false, default: 'http://localhost:5001', placeholder: null, help: 'Where KoboldCpp listens.', advanced: false },
        { name: 'password', label: 'Password', kind: 'secret', required: false, secret: true, default: null, placeholder: null, help: null, advanced: false },
        { name: 'preset', label: 'Preset', kind: 'text', required: false, secret: false, default: null, placeholder: 'default', help: null, advanced: true },
        { name: 'wait', label: 'Wait', kind: 'seconds', required: false, secret: false, default: 30, placeholder: null, help: null, advanced: true },
      ],
    };
    const server = settingsServer({ 'POST /api/settings/llm/test': () => json({ ...KEY_REQUIRED_TEST, field: null, error_code: 'backend_unreachable' }) }, {
      backends: [...BACKENDS.backends, kobold],
    });
    const { user } = await renderSettings();

    await user.selectOptions(screen.getByTestId('backend-select'), 'KoboldCpp');
    expect(screen.getByLabelText('Endpoint')).toHaveValue('http://localhost:5001');
    await user.type(screen.getByLabelText('Password'), 'hunter22');
    await user.click(screen.getByTestId('advanced-toggle'));
    await user.type(screen.getByLabelText('Preset (optional)'), 'creative');
    await user.click(screen.getByTestId('test-connection-button'));

    await waitFor(() => expect(server.sent('POST', '/api/settings/llm/test')).toHaveLength(1));
    expect(server.sent('POST', '/api/settings/llm/test')[0].body).toEqual({
      backend_type: 'koboldcpp',
      config: { endpoint: 'http://localhost:5001', password: 'hunter22', preset: 'creative', wait: 30 },
    });
  });

  it('has a show/hide toggle on the key field', async () => {
    settingsServer();
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'ChatGPT');
    const key = screen.getByLabelText('API key');
    await user.type(key, 'sk-visible-1234');

    const toggle = screen.getByRole('button', { name: 'Show API key' });
    expect(key).toHaveAttribute('type', 'password');
    await user.click(toggle);
    expect(key).toHaveAttribute('type', 'text');
    expect(screen.getByRole('button', { name: 'Hide API key' })).toHaveAttribute('aria-pressed', 'true');
    await user.click(screen.getByRole('button', { name: 'Hide API key' }));
    expect(key).toHaveAttribute('type', 'password');
  });
});

describe('A stored key is only sent to the address it was saved for', () => {
  it('makes the key field required, and says why, once the base URL is edited', async () => {
    const server = settingsServer();
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'ChatGPT');
    const key = screen.getByLabelText('API key');
    expect(key).not.toBeRequired();

    await user.click(screen.getByTestId('advanced-toggle'));
    await user.clear(screen.getByLabelText('Base URL (optional)'));
    await user.type(screen.getByLabelText('Base URL (optional)'), 'https://eu.example.test/v1');

    expect(key).toBeRequired();
    expect(key).toHaveAccessibleDescription('Enter the key again: a saved key is only sent to the address it was saved for.');
    await user.click(screen.getByTestId('save-button'));
    expect(screen.getByTestId('api-key-input-error')).toHaveTextContent('Enter the key again: a saved key is only sent to the address it was saved for.');
    expect(key).toHaveFocus();
    expect(server.sent('POST', '/api/settings/llm')).toHaveLength(0);
  });

  it('makes the key required after the organization is edited too, and not once a key is typed', async () => {
    settingsServer();
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'ChatGPT');
    await user.click(screen.getByTestId('advanced-toggle'));
    await user.type(screen.getByLabelText('Organization (optional)'), 'org-other');
    expect(screen.getByLabelText('API key')).toBeRequired();

    await user.type(screen.getByLabelText('API key'), 'sk-for-the-new-org-123');
    expect(screen.getByLabelText('API key')).toHaveAccessibleDescription(/A key is stored/);
  });

  it("shows the server's refusal of a test without the key on the key field", async () => {
    settingsServer({ 'POST /api/settings/llm/test': () => json(KEY_REQUIRED_TEST) });
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'ChatGPT');
    await user.click(screen.getByTestId('test-connection-button'));

    expect(await screen.findByTestId('api-key-input-error')).toHaveTextContent('the stored key is only sent to the address it was saved for');
  });

  it("shows the server's 400 on config.api_key from a save on the key field, with focus there", async () => {
    settingsServer({
      'GET /api/settings/llm': () => json(NOTHING_SAVED),
      'POST /api/settings/llm': () =>
        apiError(400, 'api_key_required', 'Enter the API key again: it is only sent to the address it was saved for.', { field: 'config.api_key' }),
    });
    const { user } = await renderSettings();
    await user.selectOptions(screen.getByTestId('backend-select'), 'OpenAI-compatible server');
    await user.click(screen.getByTestId('save-button'));

    const error = await screen.findByTestId('api-key-input-error');
    expect(error).toHaveTextContent('Enter the API key again: it is only sent to the address it was saved for.');
    await waitFor(() => expect(screen.getByLabelText('API key')).toHaveFocus());
    expect(within(screen.getByTestId('save-result').parentElement!).getByTestId('save-result')).toHaveTextContent('Not saved');
  });
});
