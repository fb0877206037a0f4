import { describe, expect, it } from 'vitest';
import { exportLorebook, importLorebook, parseKeys, readLorebook, withLorebook } from './lorebook';

const WORLD_INFO = {
  entries: {
    '0': { uid: 0, comment: 'Kael', key: ['Kael', 'smuggler'], keysecondary: ['gate'], selective: true, selectiveLogic: 0, content: 'Kael smuggles.', constant: false, disable: false, order: 100, position: 0, probability: 100, useProbability: true },
    '1': { uid: 1, comment: '', key: ['/drag(on|ons)/i', 'wyrm'], content: 'Dragons sleep.', constant: true, disable: true, order: 200, position: 4, probability: 50, useProbability: true },
  },
};

describe('the lorebook in a story\'s settings', () => {
  it('is written into the settings beside the other settings and read back', () => {
    const settings = withLorebook('{"temperature":0.7}', { scan_depth: 100, token_budget: 50, entries: [] });
    expect(JSON.parse(settings)).toEqual({ temperature: 0.7, lorebook: { scan_depth: 100, token_budget: 50, entries: [] } });
    expect(readLorebook(settings).scan_depth).toBe(100);
    expect(readLorebook('{}')).toEqual({ scan_depth: 4000, token_budget: 512, entries: [] });
  });

  it('takes keys separated by commas and drops the empty ones', () => {
    expect(parseKeys('Kael, the smuggler,, ')).toEqual(['Kael', 'the smuggler']);
  });

  it('exports and imports its own JSON unchanged', () => {
    const book = { scan_depth: 300, token_budget: 20, entries: [{ name: 'A', keys: ['a'], regex: false, text: 't', enabled: true, always: false }] };
    expect(importLorebook(exportLorebook(book))).toEqual({ value: book, notes: [] });
  });
});

describe('SillyTavern World Info', () => {
  it('maps what has a meaning here, higher order first, and says what was approximated or left out', () => {
    const { value, notes } = importLorebook(JSON.stringify(WORLD_INFO));
    expect(value.entries).toEqual([
      { name: 'drag(on|ons)', keys: ['drag(on|ons)', '\\bwyrm\\b'], regex: true, text: 'Dragons sleep.', enabled: false, always: true },
      { name: 'Kael', keys: ['Kael', 'smuggler'], regex: false, text: 'Kael smuggles.', enabled: true, always: false },
    ]);
    expect(notes.join('\n')).toMatch(/1 entry had secondary keys/);
    expect(notes.join('\n')).toMatch(/1 entry had another position/);
    expect(notes.join('\n')).toMatch(/1 entry had a probability under 100%/);
  });

  it('refuses a file that is not a lorebook, saying so', () => {
    expect(() => importLorebook('not json')).toThrow(/not JSON/);
    expect(() => importLorebook('{"stories": []}')).toThrow(/no "entries"/);
  });
});
