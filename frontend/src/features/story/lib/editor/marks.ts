import { type ChangeDesc, StateEffect, StateField, type EditorState, type Extension, type StateEffectType } from '@codemirror/state';
import { Decoration, type DecorationSet, EditorView } from '@codemirror/view';

/** A stretch of the text in the editor's positions (UTF-16 code units, as JavaScript strings count). */
export interface TextRange {
  from: number;
  to: number;
}

function mapRange(range: TextRange, changes: ChangeDesc): TextRange {
  return { from: changes.mapPos(range.from, 1), to: changes.mapPos(range.to, -1) };
}

/** One kind of mark over ranges of the text, kept beside the document (never in it). */
export interface MarkKind {
  extension: Extension;
  /** An effect that puts these marks over exactly `ranges` (the old ones go). */
  replace: (ranges: readonly TextRange[]) => StateEffect<readonly TextRange[]>;
  /** An effect that adds one range to these marks. */
  add: (range: TextRange) => StateEffect<TextRange>;
  /** Where these marks are now. */
  ranges: (state: EditorState) => TextRange[];
}

/**
 * Marks of one kind (`className` on the marked text). They follow edits: text typed inside a
 * marked range stays marked, text typed at its edges does not, deleted text loses its mark.
 */
export function defineMarks(className: string): MarkKind {
  const mark = Decoration.mark({ class: className, inclusiveStart: false, inclusiveEnd: false });
  const replaceEffect: StateEffectType<readonly TextRange[]> = StateEffect.define<readonly TextRange[]>({
    map: (ranges, changes) => ranges.map((range) => mapRange(range, changes)),
  });
  const addEffect = StateEffect.define<TextRange>({ map: mapRange });
  const within = (range: TextRange, length: number) => ({ from: Math.max(0, range.from), to: Math.min(range.to, length) });
  const field = StateField.define<DecorationSet>({
    create: () => Decoration.none,
    update(marks, transaction) {
      let next = marks.map(transaction.changes);
      const length = transaction.newDoc.length;
      for (const effect of transaction.effects) {
        if (effect.is(replaceEffect)) {
          const ranges = effect.value.map((range) => within(range, length)).filter((range) => range.from < range.to);
          next = Decoration.set(ranges.map((range) => mark.range(range.from, range.to)), true);
        } else if (effect.is(addEffect)) {
          const range = within(effect.value, length);
          if (range.from < range.to) next = next.update({ add: [mark.range(range.from, range.to)] });
        }
      }
      return next;
    },
    provide: (marks) => EditorView.decorations.from(marks),
  });
  return {
    extension: field,
    replace: (ranges) => replaceEffect.of(ranges),
    add: (range) => addEffect.of(range),
    ranges: (state) => {
      const found: TextRange[] = [];
      state.field(field).between(0, state.doc.length, (from, to) => void found.push({ from, to }));
      return found;
    },
  };
}
