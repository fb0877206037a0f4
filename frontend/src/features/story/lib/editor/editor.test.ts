import { undo } from '@codemirror/commands';
import { EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { getByRole } from '@testing-library/dom';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { codePointRanges, codeUnitRanges } from '../text';
import { modelRanges } from './authors';
import { defineMarks } from './marks';
import { setModelText } from './model-text';
import { changeBetween, insertFromOutside, showOutsideText } from './outside-text';
import { acceptProposal, currentProposal, proposals, setProposal } from './proposal';
import { setReadOnly, storyEditorSetup } from './setup';

const views: EditorView[] = [];
afterEach(() => views.splice(0).forEach((view) => view.destroy()));

function editor(doc: string, extra: Extension = [], { readOnly = false } = {}) {
  const onEdit = vi.fn<(text: string, model: { from: number; to: number }[]) => void>();
  const onSelect = vi.fn<(from: number, to: number) => void>();
  const view = new EditorView({
    parent: document.body,
    state: EditorState.create({
      doc,
      extensions: [storyEditorSetup({ label: 'Story text', readOnly, placeholderText: 'Write here' }, { onEdit, onSelect }), extra],
    }),
  });
  views.push(view);
  return { view, onEdit, onSelect, text: () => view.state.doc.toString() };
}

/** What the writer does: a change of the kind typing makes (it goes into the editor's own history). */
function type(view: EditorView, at: number, text: string, to = at) {
  view.dispatch({ changes: { from: at, to, insert: text }, userEvent: 'input.type' });
}

describe('the story editor', () => {
  it('is a textbox named "Story text" with spelling, autocorrect and capitals on, and keeps "\\r\\n" exactly', () => {
    const { view, text } = editor('First line.\r\nSecond line.');
    const box = getByRole(document.body, 'textbox', { name: 'Story text' });
    expect(box).toBe(view.contentDOM);
    expect(box).toHaveAttribute('spellcheck', 'true');
    expect(box).toHaveAttribute('autocorrect', 'on');
    expect(box).toHaveAttribute('autocapitalize', 'sentences');
    expect(text()).toBe('First line.\r\nSecond line.');
  });

  it('reports the writer’s edits and the cursor, but not text that came from elsewhere', () => {
    const { view, onEdit, onSelect } = editor('Once upon');
    type(view, 9, ' a time');
    expect(onEdit).toHaveBeenLastCalledWith('Once upon a time', []);
    showOutsideText(view, 'Once upon a time, a fox.');
    expect(onEdit).toHaveBeenCalledTimes(1);
    view.dispatch({ selection: { anchor: 5, head: 9 } });
    expect(onSelect).toHaveBeenLastCalledWith(5, 9);
  });

  it('is read-only to the writer while the model writes, and the model’s words still arrive', () => {
    const { view, text } = editor('The tide');
    setReadOnly(view, true);
    expect(view.contentDOM).toHaveAttribute('aria-readonly', 'true');
    expect(view.state.readOnly).toBe(true);
    insertFromOutside(view, 8, ' came in.');
    expect(text()).toBe('The tide came in.');
    setReadOnly(view, false);
    expect(view.contentDOM).not.toHaveAttribute('aria-readonly', 'true');
  });

  it('keeps generated text out of its undo history: Undo takes back what the writer typed, not the model’s words', () => {
    const { view, text } = editor('Dawn.');
    type(view, 5, ' Rain.');
    showOutsideText(view, 'Dawn. Rain. The model wrote this.');
    undo(view);
    expect(text()).toBe('Dawn. The model wrote this.');
  });

  it('moves a cursor that stood where the words arrive to after them, so writing goes on after the model', () => {
    const { view } = editor('Dawn.');
    view.dispatch({ selection: { anchor: 5 } });
    showOutsideText(view, 'Dawn. Dusk.');
    expect(view.state.selection.main.head).toBe(11);
    view.dispatch({ selection: { anchor: 2 } });
    insertFromOutside(view, 11, ' Night.');
    expect(view.state.selection.main.head).toBe(2);
  });

  it('shows the server’s version by the smallest change, never splitting a character', () => {
    expect(changeBetween('The cat sat.', 'The dog sat.')).toEqual({ from: 4, to: 7, insert: 'dog' });
    expect(changeBetween('Same.', 'Same.')).toBeNull();
    expect(changeBetween('a🧵b', 'a🧶b')).toEqual({ from: 1, to: 3, insert: '🧶' });
    const { view, text } = editor('Their ending was sad.');
    showOutsideText(view, 'Their ending was happy.');
    expect(text()).toBe('Their ending was happy.');
  });
});

describe('marks over the text', () => {
  const generated = defineMarks('cm-test-mark');

  it('follow edits: typing inside keeps the mark, typing at its edges does not, deleting takes it away', () => {
    const { view } = editor('Before. Model words. After.', generated.extension);
    view.dispatch({ effects: generated.replace([{ from: 8, to: 20 }]) });
    expect(generated.ranges(view.state)).toEqual([{ from: 8, to: 20 }]);
    expect(view.contentDOM.querySelector('.cm-test-mark')).toHaveTextContent('Model words.');

    type(view, 0, 'Now. '); // before: the mark moves with its words
    expect(generated.ranges(view.state)).toEqual([{ from: 13, to: 25 }]);
    type(view, 19, ' new'); // inside: still the model's stretch
    expect(generated.ranges(view.state)).toEqual([{ from: 13, to: 29 }]);
    type(view, 29, '!'); // at its end: the writer's, unmarked
    expect(generated.ranges(view.state)).toEqual([{ from: 13, to: 29 }]);
    type(view, 13, '', 29); // deleted
    expect(generated.ranges(view.state)).toEqual([]);
  });

  it('mark words as they stream in, in the same step', () => {
    const { view } = editor('Dawn.', generated.extension);
    insertFromOutside(view, 5, ' Dusk.', { effects: [generated.add({ from: 5, to: 11 })] });
    expect(generated.ranges(view.state)).toEqual([{ from: 5, to: 11 }]);
  });
});

describe('an inline proposal', () => {
  const actions = () => ({ accept: vi.fn(), retry: vi.fn(), discard: vi.fn() });

  it('shows the proposed text after the stretch it would replace, with Accept, Try again and Discard', () => {
    const buttons = actions();
    const { view } = editor('It was a dark night.', proposals(buttons));
    view.dispatch({ effects: setProposal.of({ from: 7, to: 19, text: 'a night without stars', pending: true }) });
    const group = getByRole(view.dom, 'group', { name: 'Proposed text' });
    expect(group).toHaveTextContent('a night without stars');
    expect(getByRole(group, 'button', { name: 'Accept' })).toBeDisabled(); // still arriving
    expect(view.contentDOM.querySelector('.cm-proposal-replaced')).toHaveTextContent('a dark night');

    view.dispatch({ effects: setProposal.of({ from: 7, to: 19, text: 'a night without stars', pending: false }) });
    getByRole(group, 'button', { name: 'Accept' }).click();
    getByRole(group, 'button', { name: 'Try again' }).click();
    getByRole(group, 'button', { name: 'Discard' }).click();
    expect([buttons.accept, buttons.retry, buttons.discard].map((action) => action.mock.calls.length)).toEqual([1, 1, 1]);
  });

  it('accepted, replaces exactly its stretch as one undo step; its stretch follows edits made before it', () => {
    const { view, text } = editor('It was a dark night. The end.', proposals(actions()));
    view.dispatch({ effects: setProposal.of({ from: 7, to: 19, text: 'a night without stars', pending: false }) });
    type(view, 0, 'So. ');
    expect(acceptProposal(view)).toEqual({ from: 11, to: 32 });
    expect(text()).toBe('So. It was a night without stars. The end.');
    expect(currentProposal(view)).toBeNull();
    undo(view);
    expect(text()).toBe('So. It was a dark night. The end.');
  });

  it('keeps the model’s mark on what it wrote and takes it off the characters the writer types or changes', () => {
    const { view, onEdit } = editor('I wrote this. The model wrote that.');
    view.dispatch({ effects: setModelText.of([{ from: 14, to: 35 }]) });
    type(view, 24, 'surely ');
    expect(modelRanges(view.state)).toEqual([
      { from: 14, to: 24 },
      { from: 31, to: 42 },
    ]);
    type(view, 37, 'this', 41); // "that" becomes "this"
    expect(onEdit).toHaveBeenLastCalledWith('I wrote this. The model surely wrote this.', [
      { from: 14, to: 24 },
      { from: 31, to: 37 },
      { from: 41, to: 42 },
    ]);
    showOutsideText(view, 'I wrote this. The model surely wrote this. More.', { byModel: true });
    expect(modelRanges(view.state).at(-1)).toEqual({ from: 42, to: 48 });
  });

  it('counts marks in code points as the server does, and back', () => {
    const text = 'A 🦊 fox 🦊 ran.';
    const units = [{ from: 2, to: 8 }, { from: 9, to: 16 }];
    expect(codePointRanges(text, units)).toEqual([[2, 7], [8, 14]]);
    expect(codeUnitRanges(text, [[2, 7], [8, 14]])).toEqual(units);
  });
});
