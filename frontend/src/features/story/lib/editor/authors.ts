import { type EditorState, type Extension, StateField, type Transaction } from '@codemirror/state';
import { Decoration, type DecorationSet, EditorView } from '@codemirror/view';
import type { TextRange } from './marks';
import { addModelText, setModelText } from './model-text';
import { fromOutside } from './outside-text';

/** What the model wrote, marked (subtly; `.cm-model-text`). */
const modelMark = Decoration.mark({ class: 'cm-model-text', inclusiveStart: false, inclusiveEnd: false });

function rangesOf(marks: DecorationSet, length: number): TextRange[] {
  const found: TextRange[] = [];
  marks.between(0, length, (from, to) => void found.push({ from, to }));
  return found;
}

/** `ranges` without the characters of `cut` (sorted ranges both). */
function without(ranges: TextRange[], cut: TextRange[]): TextRange[] {
  let left = ranges;
  for (const hole of cut) {
    left = left.flatMap((range) =>
      range.to <= hole.from || range.from >= hole.to
        ? [range]
        : [
            ...(range.from < hole.from ? [{ from: range.from, to: hole.from }] : []),
            ...(range.to > hole.to ? [{ from: hole.to, to: range.to }] : []),
          ],
    );
  }
  return left;
}

function build(ranges: readonly TextRange[], length: number): DecorationSet {
  const kept = ranges
    .map((range) => ({ from: Math.max(0, range.from), to: Math.min(range.to, length) }))
    .filter((range) => range.from < range.to)
    .sort((a, b) => a.from - b.from);
  return Decoration.set(kept.map((range) => modelMark.range(range.from, range.to)));
}

/** The characters the writer typed in this change (a generation's and the server's text are not). */
function typed(transaction: Transaction): TextRange[] {
  const inserted: TextRange[] = [];
  if (transaction.docChanged && !transaction.annotation(fromOutside)) {
    transaction.changes.iterChangedRanges((_fromA, _toA, fromB, toB) => {
      if (fromB < toB) inserted.push({ from: fromB, to: toB });
    });
  }
  return inserted;
}

const modelText = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, transaction) {
    const length = transaction.newDoc.length;
    let next = marks.map(transaction.changes);
    const inserted = typed(transaction);
    if (inserted.length) next = build(without(rangesOf(next, length), inserted), length);
    for (const effect of transaction.effects) {
      if (effect.is(setModelText)) next = build(effect.value, length);
      else if (effect.is(addModelText)) next = build([...rangesOf(next, length), effect.value], length);
    }
    return next;
  },
  provide: (marks) => EditorView.decorations.from(marks),
});

/** Who wrote what: the model's text marked; the writer's typing takes the mark off what it replaces. */
export const authors: Extension = modelText;

/** The ranges the model wrote, as they are now (UTF-16, sorted). */
export function modelRanges(state: EditorState): TextRange[] {
  return rangesOf(state.field(modelText), state.doc.length);
}
