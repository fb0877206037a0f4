import { StateEffect } from '@codemirror/state';
import type { TextRange } from './marks';

/** The model's text is exactly `ranges` (the server's word on a text it has). */
export const setModelText = StateEffect.define<readonly TextRange[]>();

/** The model wrote `range` (a generation's words as they arrive). */
export const addModelText = StateEffect.define<TextRange>({
  map: (range, changes) => ({ from: changes.mapPos(range.from, 1), to: changes.mapPos(range.to, -1) }),
});
