// SillyTavern World Info (`{"entries": {"<uid>": {...}}}`) as lorebook entries, with notes on
// what has no meaning here. Field meanings: SillyTavern's public/scripts/world-info.js.
import { type Entry, type Imported, LOREBOOK_LIMITS } from './lorebookLimits';

interface WorldInfoEntry {
  comment?: unknown;
  key?: unknown;
  keysecondary?: unknown;
  selective?: unknown;
  content?: unknown;
  constant?: unknown;
  disable?: unknown;
  order?: unknown;
  position?: unknown;
  probability?: unknown;
  useProbability?: unknown;
}

// ST writes a regular-expression key as /pattern/flags.
const REGEX_KEY = /^\/([\w\W]+?)\/([gimsuy]*)$/;

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string' && item.trim() !== '') : [];
}

function escapeForRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The entry's keys; when any is a regular expression, all become patterns (plain ones as whole words). */
function keysOf(keys: string[]): { keys: string[]; regex: boolean; caseSensitive: boolean } {
  const patterns = keys.map((key) => REGEX_KEY.exec(key.trim()));
  if (patterns.every((match) => match === null)) return { keys: keys.map((key) => key.trim()), regex: false, caseSensitive: false };
  return {
    keys: keys.map((key, index) => patterns[index]?.[1] ?? `\\b${escapeForRegex(key.trim())}\\b`),
    regex: true,
    caseSensitive: patterns.some((match) => match !== null && !match[2].includes('i')),
  };
}

function counted(count: number, what: string): string | null {
  return count > 0 ? `${count} ${count === 1 ? 'entry' : 'entries'} ${what}` : null;
}

/** Lorebook entries from World Info's `entries`, higher `order` first (it goes first in the budget). */
export function fromWorldInfo(entries: unknown): Imported<Entry[]> {
  const all = (entries && typeof entries === 'object' ? Object.values(entries as Record<string, WorldInfoEntry>) : []).filter(
    (entry) => entry && typeof entry === 'object',
  );
  const byOrder = [...all].sort((a, b) => (typeof b.order === 'number' ? b.order : 100) - (typeof a.order === 'number' ? a.order : 100));
  const tally = { secondary: 0, position: 0, probability: 0, caseSensitive: 0, cut: 0 };
  const value = byOrder.slice(0, LOREBOOK_LIMITS.entries).map((entry): Entry => {
    const primary = keysOf(strings(entry.key));
    if (entry.selective !== false && strings(entry.keysecondary).length > 0) tally.secondary += 1;
    if (typeof entry.position === 'number' && entry.position > 1) tally.position += 1;
    if (entry.useProbability !== false && typeof entry.probability === 'number' && entry.probability < 100) tally.probability += 1;
    if (primary.caseSensitive) tally.caseSensitive += 1;
    const content = typeof entry.content === 'string' ? entry.content : '';
    if (content.length > LOREBOOK_LIMITS.textChars || primary.keys.length > LOREBOOK_LIMITS.keys) tally.cut += 1;
    const name = typeof entry.comment === 'string' && entry.comment.trim() ? entry.comment : (primary.keys[0] ?? '');
    return {
      name: name.slice(0, LOREBOOK_LIMITS.nameChars),
      keys: primary.keys.slice(0, LOREBOOK_LIMITS.keys).map((key) => key.slice(0, LOREBOOK_LIMITS.keyChars)),
      regex: primary.regex,
      text: content.slice(0, LOREBOOK_LIMITS.textChars),
      enabled: entry.disable !== true,
      always: entry.constant === true,
    };
  });
  const notes = [
    counted(tally.secondary, 'had secondary keys (keysecondary with selectiveLogic): they are left out, so the primary keys alone send the entry'),
    counted(tally.position, 'had another position (author\'s note, at depth, example messages or outlet): every entry is placed after the memory'),
    counted(tally.probability, 'had a probability under 100%: here an entry is sent every time its key appears'),
    counted(tally.caseSensitive, 'had a case-sensitive regular expression: keys here match whatever the case'),
    counted(tally.cut, `were longer than the lorebook holds: cut to ${LOREBOOK_LIMITS.keys} keys and ${LOREBOOK_LIMITS.textChars.toLocaleString()} characters of text`),
    all.length > LOREBOOK_LIMITS.entries ? `Only the ${LOREBOOK_LIMITS.entries} entries with the highest order were imported (of ${all.length}).` : null,
    all.length > 0 ? 'The order of entries follows their order: higher first, which also goes first within the token budget.' : null,
  ].filter((note): note is string => note !== null);
  return { value, notes };
}
