import { describe, expect, it } from 'vitest';
import { buildSettingsRequest } from './settingsRequest';

describe('buildSettingsRequest', () => {
  it('leaves a blank ChatGPT key out so the server keeps the stored one', () => {
    const request = buildSettingsRequest({ backendType: 'chatgpt', chatgpt: { apiKey: '  ' }, defaultModel: 'gpt-4' });
    expect(request).toEqual({ backend_type: 'chatgpt', config: {}, default_model: 'gpt-4' });
  });
});
