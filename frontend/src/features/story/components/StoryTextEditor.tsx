import { EditorSelection, EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { useEffect, useRef } from 'react';
import type { TextRange } from '../lib/editor/marks';
import { setModelText } from '../lib/editor/model-text';
import { showOutsideText } from '../lib/editor/outside-text';
import { type Proposal, type ProposalActions, proposals, setProposal } from '../lib/editor/proposal';
import { highlightUnlikely, type PlacedToken, showTokens, tokenProbabilities } from '../lib/editor/probabilities';
import { lastPassage, setPlaceholder, setReadOnly, storyEditorSetup } from '../lib/editor/setup';

interface StoryTextEditorProps {
  /** The text as the page holds it; a change made elsewhere (a generation, the server) is shown as it comes. */
  text: string;
  /** `model`: what of the text the model wrote (UTF-16 ranges). */
  onEdit: (text: string, model: TextRange[]) => void;
  onSelect: (selection: TextRange) => void;
  /** True while the model writes. */
  readOnly: boolean;
  placeholder: string;
  /** Where the last generated passage is, when the page knows it for this very text (undefined: keep the marks where edits moved them). */
  passage: TextRange | null | undefined;
  /** Whether the writer is reading the newest words (then arriving words keep them in view). */
  following: () => boolean;
  /** A rewrite's proposal shown beside the passage it would replace, with its buttons doing `proposalActions`. */
  proposal: Proposal | null;
  proposalActions: ProposalActions;
  /** What the model wrote, when the page knows it for this very text (undefined: keep the marks where edits moved them). */
  model: TextRange[] | undefined;
  /** The model writes now: the text that comes is its. */
  generating: boolean;
  /** Generated words with their alternatives, for this very text (undefined: keep them where edits moved them). */
  tokens?: readonly PlacedToken[];
  highlightUnlikely?: boolean;
  /** The writer chose alternative `text` for the token at `at` (UTF-16). */
  onChoose?: (at: number, text: string) => void;
}

/** The story's text in CodeMirror 6, created once; later props reach it as transactions. */
export function StoryTextEditor(props: StoryTextEditorProps) {
  const { text, onEdit, onSelect, readOnly, placeholder, passage, following, proposal, proposalActions, model, generating, tokens, onChoose } = props;
  const mount = useRef<HTMLDivElement>(null);
  const viewRef = useRef<EditorView | null>(null);
  const latest = useRef({ text, onEdit, onSelect, readOnly, placeholder, proposalActions, onChoose });
  useEffect(() => {
    latest.current = { text, onEdit, onSelect, readOnly, placeholder, proposalActions, onChoose };
  });

  useEffect(() => {
    const opened = latest.current;
    const view = new EditorView({
      parent: mount.current as HTMLDivElement,
      state: EditorState.create({
        doc: opened.text,
        selection: EditorSelection.cursor(opened.text.length), // writing goes on at the end
        extensions: [
          storyEditorSetup(
            { label: 'Story text', readOnly: opened.readOnly, placeholderText: opened.placeholder },
            {
              onEdit: (edited, ranges) => latest.current.onEdit(edited, ranges),
              onSelect: (from, to) => latest.current.onSelect({ from, to }),
            },
          ),
          proposals({
            accept: () => latest.current.proposalActions.accept(),
            retry: () => latest.current.proposalActions.retry(),
            discard: () => latest.current.proposalActions.discard(),
          }),
          tokenProbabilities((at, chosen) => latest.current.onChoose?.(at, chosen)),
        ],
      }),
    });
    // On opening, the newest words are what the writer needs to see.
    view.dispatch({ effects: EditorView.scrollIntoView(opened.text.length, { y: 'end' }) });
    // The tests read the whole text here: the DOM holds only the lines in view.
    Object.defineProperty(view.contentDOM, 'storyText', { get: () => view.state.doc.toString() });
    viewRef.current = view;
    return () => {
      viewRef.current = null;
      view.destroy();
    };
  }, []);

  useEffect(() => {
    if (viewRef.current) showOutsideText(viewRef.current, text, { follow: following(), byModel: generating });
  }, [text, following, generating]);

  useEffect(() => {
    if (viewRef.current && model !== undefined) viewRef.current.dispatch({ effects: setModelText.of(model) });
  }, [model]);

  useEffect(() => {
    if (viewRef.current) setReadOnly(viewRef.current, readOnly);
  }, [readOnly]);

  useEffect(() => {
    if (viewRef.current) setPlaceholder(viewRef.current, placeholder);
  }, [placeholder]);

  useEffect(() => {
    if (viewRef.current && passage !== undefined) viewRef.current.dispatch({ effects: lastPassage.replace(passage ? [passage] : []) });
  }, [passage]);

  const { from, to, text: proposed, pending } = proposal ?? { from: -1, to: -1, text: '', pending: false };
  useEffect(() => {
    if (viewRef.current) viewRef.current.dispatch({ effects: setProposal.of(from < 0 ? null : { from, to, text: proposed, pending }) });
  }, [from, to, proposed, pending]);

  useEffect(() => {
    if (viewRef.current && tokens !== undefined) showTokens(viewRef.current, tokens);
  }, [tokens]);

  useEffect(() => {
    if (viewRef.current) highlightUnlikely(viewRef.current, props.highlightUnlikely === true);
  }, [props.highlightUnlikely]);

  return <div ref={mount} className="story-editor" />;
}
