// A story's lorebook as the page edits it: kept in the story's settings (`settings.lorebook`),
// exported and imported alone as JSON, and read from SillyTavern's World Info (worldInfo.ts).
import type { Lorebook, LorebookEntry } from '../../../types/api';
import { type Entry, type Imported, LOREBOOK_LIMITS } from './lorebookLimits';
import { fromWorldInfo } from './worldInfo';

export const DEFAULT_SCAN_DEPTH = 4_000;
export const DEFAULT_TOKEN_BUDGET = 512;
const EXPORT_FORMAT = 'taleweaver-lorebook';

export interface Book {
  scan_depth: number;
  token_budget: number;
  entries: Entry[];
}

export function newEntry(): Entry {
  return { name: '', keys: [], regex: false, text: '', enabled: true, always: false };
}

function asEntry(raw: LorebookEntry): Entry {
  return { ...newEntry(), ...raw, keys: Array.isArray(raw.keys) ? raw.keys.filter((key) => typeof key === 'string') : [] };
}

function asBook(raw: Lorebook | undefined): Book {
  return {
    scan_depth: typeof raw?.scan_depth === 'number' ? raw.scan_depth : DEFAULT_SCAN_DEPTH,
    token_budget: typeof raw?.token_budget === 'number' ? raw.token_budget : DEFAULT_TOKEN_BUDGET,
    entries: Array.isArray(raw?.entries) ? raw.entries.map(asEntry) : [],
  };
}

function parsedSettings(json: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(json);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The lorebook in a story's settings (as their JSON text); empty when it has none. */
export function readLorebook(settingsJson: string): Book {
  return asBook(parsedSettings(settingsJson).lorebook as Lorebook | undefined);
}

/** The settings' JSON text with this lorebook in them (the other settings as they were). */
export function withLorebook(settingsJson: string, book: Book): string {
  return JSON.stringify({ ...parsedSettings(settingsJson), lorebook: book });
}

/** Keys as typed in one field, separated by commas; empty ones dropped. */
export function parseKeys(typed: string): string[] {
  return typed
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '')
    .slice(0, LOREBOOK_LIMITS.keys)
    .map((key) => key.slice(0, LOREBOOK_LIMITS.keyChars));
}

/** The lorebook alone as a JSON file's text. */
export function exportLorebook(book: Book): string {
  return JSON.stringify({ format: EXPORT_FORMAT, version: 1, ...book }, null, 2);
}

/** A lorebook from a file's text: Taleweaver's own export, or SillyTavern's World Info (with
 * notes on what was approximated or left out). Throws an Error that says what is wrong. */
export function importLorebook(text: string): Imported<Book> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('This file is not JSON: choose a lorebook exported from Taleweaver or a SillyTavern World Info file.');
  }
  const raw = parsed as { entries?: unknown } | null;
  if (!raw || typeof raw !== 'object' || raw.entries === undefined) {
    throw new Error('This file has no "entries": it is neither a Taleweaver lorebook nor SillyTavern World Info.');
  }
  if (Array.isArray(raw.entries)) {
    const book = asBook(raw as Lorebook);
    const notes = book.entries.length > LOREBOOK_LIMITS.entries ? [`Only the first ${LOREBOOK_LIMITS.entries} entries were imported.`] : [];
    return { value: { ...book, entries: book.entries.slice(0, LOREBOOK_LIMITS.entries) }, notes };
  }
  const imported = fromWorldInfo(raw.entries);
  return { value: { scan_depth: DEFAULT_SCAN_DEPTH, token_budget: DEFAULT_TOKEN_BUDGET, entries: imported.value }, notes: imported.notes };
}
