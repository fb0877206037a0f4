import { describe, expect, it } from 'vitest';
import { buildSettingsRequest } from './settingsRequest';

describe('buildSettingsRequest', () => {
  it('leaves a blank ChatGPT key out so the server keeps the stored one', () => {
    const request = buildSettingsRequest({ backendType: 'chatgpt', chatgpt: { apiKey: '  ' }, defaultModel: 'gpt-4' });
    expect(request).toEqual({ backend_type: 'chatgpt', config: {}, default_model: 'gpt-4' });
  });

  it("sends the chosen backend's values under the server's field names, trimmed", () => {
    const request = buildSettingsRequest({
      backendType: 'openai_compatible',
      openai_compatible: { baseUrl: ' http://localhost:8080/v1 ', apiKey: 'sk-local-1234' },
      lmstudio: { url: 'http://localhost:1234' },
    });
    expect(request).toEqual({
      backend_type: 'openai_compatible',
      config: { base_url: 'http://localhost:8080/v1', api_key: 'sk-local-1234' },
      default_model: null,
    });
  });
});
