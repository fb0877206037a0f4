// What a lorebook entry is on the page, and the server's bounds (stories/lorebook.py), which the page keeps within.
import type { LorebookEntry } from '../../../types/api';

export const LOREBOOK_LIMITS = { entries: 200, keys: 20, keyChars: 200, nameChars: 200, textChars: 10_000 };

export type Entry = Required<LorebookEntry>;

export interface Imported<T> {
  value: T;
  /** What was approximated or left out, for the writer. */
  notes: string[];
}
