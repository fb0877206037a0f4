import { Annotation, EditorSelection, type StateEffect, Transaction } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { addModelText } from './model-text';

/**
 * Marks a change that did not come from the writer's keys: text a generation wrote, the
 * server's version of the story. It is kept out of the editor's undo history (Undo there
 * undoes the writer's own typing; generations are undone with the page's Undo, on the server),
 * and it is not reported back as an edit.
 */
export const fromOutside = Annotation.define<boolean>();

const OUTSIDE = [fromOutside.of(true), Transaction.addToHistory.of(false)];

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** The one change that turns `current` into `next`, keeping their common start and end (never half a character). */
export function changeBetween(current: string, next: string): { from: number; to: number; insert: string } | null {
  if (current === next) return null;
  const shorter = Math.min(current.length, next.length);
  let start = 0;
  while (start < shorter && current.charCodeAt(start) === next.charCodeAt(start)) start += 1;
  if (start > 0 && isHighSurrogate(current.charCodeAt(start - 1))) start -= 1;
  let end = 0;
  while (end < shorter - start && current.charCodeAt(current.length - 1 - end) === next.charCodeAt(next.length - 1 - end)) end += 1;
  if (end > 0 && isLowSurrogate(current.charCodeAt(current.length - end))) end -= 1;
  return { from: start, to: current.length - end, insert: next.slice(start, next.length - end) };
}

/**
 * Inserts text written elsewhere (a generation's words) at `at`; a cursor that stood there moves
 * after them, so the writer goes on after the model. With `follow`, the view scrolls so the
 * newest words stay in sight; `effects` go in the same step (a mark over them).
 */
export function insertFromOutside(
  view: EditorView,
  at: number,
  text: string,
  { follow = false, effects = [] }: { follow?: boolean; effects?: StateEffect<unknown>[] } = {},
): void {
  const end = at + text.length;
  const { main } = view.state.selection;
  const newest = EditorView.scrollIntoView(end, { y: 'nearest', yMargin: 24 });
  view.dispatch({
    changes: { from: at, insert: text },
    selection: main.empty && main.head === at ? EditorSelection.cursor(end) : undefined,
    annotations: OUTSIDE,
    effects: follow ? [...effects, newest] : effects,
  });
}

/**
 * Makes the editor show `next`, changed elsewhere, by the smallest change (the cursor and marks
 * stay where they were). With `byModel`, text it adds is a generation's: marked as the model's.
 */
export function showOutsideText(view: EditorView, next: string, { follow = false, byModel = false } = {}): void {
  const current = view.state.doc.toString();
  const add = (at: number, text: string) =>
    insertFromOutside(view, at, text, { follow, effects: byModel ? [addModelText.of({ from: at, to: at + text.length })] : [] });
  if (next.startsWith(current)) {
    if (next.length > current.length) add(current.length, next.slice(current.length));
    return;
  }
  const change = changeBetween(current, next);
  // Words written inside the text ("Write here") go in as a generation's do at the end.
  if (change && change.from === change.to) add(change.from, change.insert);
  else if (change) view.dispatch({ changes: change, annotations: OUTSIDE });
}
