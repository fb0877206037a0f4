import { history, historyKeymap, insertNewline, standardKeymap } from '@codemirror/commands';
import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView, keymap, placeholder, type ViewUpdate } from '@codemirror/view';
import { adoptEditorStyles } from './adopted-styles';
import { authors, modelRanges } from './authors';
import type { TextRange } from './marks';
import { defineMarks } from './marks';
import { fromOutside } from './outside-text';

/** What the story editor tells the page. */
export interface StoryEditorListeners {
  /** The writer changed the text; `text` is read from the editor's state (CodeMirror draws only the lines in view), `model` is what of it the model wrote. */
  onEdit: (text: string, model: TextRange[]) => void;
  /** The cursor moved or the selection changed (`from === to`: a cursor). */
  onSelect: (from: number, to: number) => void;
}

/** The last generated passage: the one Regenerate writes again and ◀ ▶ flips between versions of. */
export const lastPassage = defineMarks('cm-last-passage');

/** Prose, not code: the story's typeface and line height, the page's colours, no frame (it sits on the paper). */
const proseTheme = EditorView.theme({
  '&': { flex: '1', backgroundColor: 'transparent' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': { fontFamily: 'var(--prose-font)', fontSize: '1.125rem', lineHeight: '1.7', overflow: 'visible' },
  '.cm-content': { padding: '0', caretColor: 'var(--text)' },
  '.cm-content[aria-readonly="true"]': { caretColor: 'transparent' },
  '.cm-line': { padding: '0' },
  '.cm-placeholder': { color: 'var(--muted)', fontStyle: 'italic' },
});

const readOnlyCompartment = new Compartment();
const placeholderCompartment = new Compartment();

function readOnlyExtension(readOnly: boolean): Extension {
  return EditorState.readOnly.of(readOnly);
}

function reportChanges({ onEdit, onSelect }: StoryEditorListeners): Extension {
  return EditorView.updateListener.of((update: ViewUpdate) => {
    if (update.docChanged && update.transactions.some((transaction) => transaction.docChanged && !transaction.annotation(fromOutside))) {
      onEdit(update.state.doc.toString(), modelRanges(update.state));
    }
    if (update.selectionSet || update.docChanged) {
      const { from, to } = update.state.selection.main;
      onSelect(from, to);
    }
  });
}

/**
 * The story's editor as a writer wants it: prose wrapped at the window, the browser's spelling
 * check, autocorrect and capitals back on (CodeMirror turns them off for code), Enter a plain
 * new line, its own undo for what is typed, and `label` as its accessible name.
 */
export function storyEditorSetup(
  { label, readOnly, placeholderText }: { label: string; readOnly: boolean; placeholderText: string },
  listeners: StoryEditorListeners,
): Extension {
  adoptEditorStyles();
  return [
    EditorView.lineWrapping,
    proseTheme,
    // Only "\n" ends a line, so the text round-trips exactly (CodeMirror would otherwise turn "\r\n" into "\n").
    EditorState.lineSeparator.of('\n'),
    EditorView.contentAttributes.of({
      'aria-label': label,
      spellcheck: 'true',
      autocorrect: 'on',
      autocapitalize: 'sentences',
      'data-testid': 'story-output',
    }),
    history(),
    keymap.of([{ key: 'Enter', run: insertNewline }, ...historyKeymap, ...standardKeymap]),
    readOnlyCompartment.of(readOnlyExtension(readOnly)),
    placeholderCompartment.of(placeholder(placeholderText)),
    lastPassage.extension,
    authors,
    reportChanges(listeners),
  ];
}

/** Makes the text read-only (while the model writes) or editable again; it can still be read, selected and scrolled. */
export function setReadOnly(view: EditorView, readOnly: boolean): void {
  if (view.state.readOnly !== readOnly) view.dispatch({ effects: readOnlyCompartment.reconfigure(readOnlyExtension(readOnly)) });
}

export function setPlaceholder(view: EditorView, text: string): void {
  view.dispatch({ effects: placeholderCompartment.reconfigure(placeholder(text)) });
}
