import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { afterEach, describe, expect, it } from 'vitest';
import { percent, type PlacedToken, showTokens, tokenProbabilities } from './probabilities';

const views: EditorView[] = [];
afterEach(() => views.splice(0).forEach((view) => view.destroy()));

function token(from: number, text: string): PlacedToken {
  return { from, to: from + text.length, token: text, logprob: -0.25, top: [{ token: text, logprob: -0.25 }] };
}

/** "The keeper lit the lamp" with each word a generated token; the words the marks cover now. */
function editor() {
  const doc = 'The keeper lit the lamp';
  const view = new EditorView({ parent: document.body, state: EditorState.create({ doc, extensions: tokenProbabilities(() => undefined) }) });
  views.push(view);
  showTokens(view, [token(0, 'The'), token(3, ' keeper'), token(10, ' lit'), token(14, ' the'), token(18, ' lamp')]);
  const marked = () => Array.from(view.contentDOM.querySelectorAll('.cm-token')).map((element) => element.textContent);
  return { view, marked };
}

describe('token probabilities in the editor', () => {
  it('follow an edit before them, and a word the writer changed loses its alternatives', () => {
    const { view, marked } = editor();
    view.dispatch({ changes: { from: 0, insert: 'At dusk ' } });
    view.dispatch({ changes: { from: 'At dusk The keeper lit'.length + 1, to: 'At dusk The keeper lit th'.length, insert: 'TH' } });
    expect(view.state.doc.toString()).toBe('At dusk The keeper lit THe lamp');
    expect(marked()).toEqual(['The', ' keeper', ' lit', ' lamp']);
  });

  it('keep a word whose edge the writer typed at', () => {
    const { view, marked } = editor();
    view.dispatch({ changes: { from: view.state.doc.length, insert: ' shone.' } });
    expect(marked()).toEqual(['The', ' keeper', ' lit', ' the', ' lamp']);
  });

  it('write chances as percentages', () => {
    expect([percent(-0.25), percent(-2.5), percent(Math.log(0.004))]).toEqual(['78%', '8.2%', '0.4%']);
  });
});
