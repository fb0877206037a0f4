import { describe, expect, it } from 'vitest';
import { readSettings, requestParams, writeSettings } from './generationSettings';

describe("a story's samplers", () => {
  it('are kept and sent when set, and an unset one is not sent at all (the backend keeps its default)', () => {
    const settings = readSettings('{"temperature":0.7,"top_p":0.9,"max_tokens":300,"top_k":40,"seed":7,"stop":["THE END"],"context_length":8192}');
    expect(requestParams(settings)).toEqual({ temperature: 0.7, top_p: 0.9, max_tokens: 300, top_k: 40, seed: 7, stop: ['THE END'], context_length: 8192 });
    expect(readSettings(writeSettings(settings))).toEqual(settings);
    expect(Object.keys(requestParams(readSettings('{}')))).toEqual(['temperature', 'top_p', 'max_tokens']);
  });

  it('drops a value out of its range or not whole where it must be, and keeps the lorebook through a save', () => {
    const settings = readSettings('{"top_k":-1,"seed":1.5,"min_p":2,"context_length":100,"lorebook":{"entries":[]}}');
    expect(requestParams(settings)).toEqual({ temperature: 0.8, top_p: 0.95, max_tokens: 600 });
    expect(JSON.parse(writeSettings(settings)).lorebook).toEqual({ entries: [] });
  });
});
