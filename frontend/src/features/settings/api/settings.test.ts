import { describe, expect, it } from 'vitest';
import { NOTHING_SAVED, OLLAMA_ACTIVE } from '../../../test/fixtures';
import { apiError, fakeServer, json } from '../../../test/server';
import { migrateLegacySettings } from './settings';

const LEGACY_KEY = 'lmstudioSettings';

describe('migrateLegacySettings', () => {
  it('posts the old LM Studio settings when the server has none, then removes the key', async () => {
    localStorage.setItem(LEGACY_KEY, JSON.stringify({ url: 'http://192.168.32.1:1234', model: 'mistral-7b' }));
    const saved = { ...NOTHING_SAVED, backend_type: 'lmstudio' as const };
    const server = fakeServer({ 'POST /api/settings/llm': () => json(saved) });

    await expect(migrateLegacySettings(NOTHING_SAVED)).resolves.toEqual(saved);

    expect(server.sent('POST', '/api/settings/llm').map((request) => request.body)).toEqual([
      { backend_type: 'lmstudio', config: { url: 'http://192.168.32.1:1234' }, default_model: 'mistral-7b' },
    ]);
    expect(localStorage.getItem(LEGACY_KEY)).toBeNull();
  });

  it('only removes the key when the server already has settings', async () => {
    localStorage.setItem(LEGACY_KEY, JSON.stringify({ url: 'http://localhost:1234', model: 'old' }));
    const server = fakeServer({});

    await expect(migrateLegacySettings(OLLAMA_ACTIVE)).resolves.toBeNull();

    expect(server.requests).toHaveLength(0);
    expect(localStorage.getItem(LEGACY_KEY)).toBeNull();
  });

  it('removes a key holding bad JSON without posting or throwing', async () => {
    localStorage.setItem(LEGACY_KEY, '{"url": "http://localhost:1234",');
    const server = fakeServer({});

    await expect(migrateLegacySettings(NOTHING_SAVED)).resolves.toBeNull();

    expect(server.requests).toHaveLength(0);
    expect(localStorage.getItem(LEGACY_KEY)).toBeNull();
  });

  it('keeps the key for the next load when the server cannot be reached', async () => {
    localStorage.setItem(LEGACY_KEY, JSON.stringify({ url: 'http://localhost:1234' }));
    fakeServer({ 'POST /api/settings/llm': () => apiError(500, 'internal_error', 'The server hit a problem. Try again.') });

    await expect(migrateLegacySettings(NOTHING_SAVED)).rejects.toThrow('The server hit a problem. Try again.');
    expect(localStorage.getItem(LEGACY_KEY)).not.toBeNull();
  });
});
