import { Compartment, StateEffect, StateField, type Extension, type Range } from '@codemirror/state';
import { closeHoverTooltips, Decoration, type DecorationSet, EditorView, hoverTooltip, type Tooltip } from '@codemirror/view';

/** A generated token where it stands in the editor (UTF-16 positions), with its likeliest alternatives. */
export interface PlacedToken {
  from: number;
  to: number;
  token: string;
  logprob: number;
  top: { token: string; logprob: number }[];
}

/** Below this chance a word counts as unlikely ("Highlight unlikely words"). */
export const UNLIKELY = 0.3;

export function percent(logprob: number): string {
  const value = Math.exp(logprob) * 100;
  return value >= 10 ? `${Math.round(value)}%` : `${value.toFixed(1)}%`;
}

const setTokens = StateEffect.define<readonly PlacedToken[]>();

function markOf(token: PlacedToken): Range<Decoration> {
  const unlikely = Math.exp(token.logprob) < UNLIKELY;
  return Decoration.mark({ class: unlikely ? 'cm-token cm-token-unlikely' : 'cm-token', token }).range(token.from, token.to);
}

/**
 * The tokens' marks. They follow edits like the other marks; a token whose text the writer
 * changed loses its alternatives (they no longer describe it).
 */
const tokens = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, transaction) {
    let next = marks;
    if (transaction.docChanged) {
      const changed: [number, number][] = [];
      transaction.changes.iterChangedRanges((fromA, toA) => void changed.push([fromA, toA]));
      // Text deleted from a token, or typed inside it (not at its edges), changes it.
      const edited = (from: number, to: number) => changed.some(([a, b]) => (a < to && b > from) || (a === b && a > from && a < to));
      next = next.update({ filter: (from, to) => !edited(from, to) }).map(transaction.changes);
    }
    for (const effect of transaction.effects) {
      if (effect.is(setTokens)) {
        const length = transaction.newDoc.length;
        next = Decoration.set(effect.value.filter((token) => token.from < token.to && token.to <= length).map(markOf), true);
      }
    }
    return next;
  },
  provide: (marks) => EditorView.decorations.from(marks),
});

function tokenAt(view: EditorView, pos: number, side: number): { from: number; to: number; token: PlacedToken } | null {
  let found: { from: number; to: number; token: PlacedToken } | null = null;
  view.state.field(tokens).between(pos, pos, (from, to, mark) => {
    if ((side < 0 ? from < pos : from <= pos) && (side > 0 ? to > pos : to >= pos)) {
      found = { from, to, token: mark.spec.token as PlacedToken };
      return false;
    }
    return undefined;
  });
  return found;
}

function alternativesDom(view: EditorView, token: PlacedToken, from: number, onChoose: (at: number, text: string) => void): HTMLElement {
  const dom = document.createElement('div');
  dom.className = 'cm-token-alternatives';
  dom.setAttribute('role', 'dialog');
  dom.setAttribute('aria-label', `Alternatives for "${token.token}"`);
  const list = document.createElement('ul');
  for (const alternative of token.top) {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `${JSON.stringify(alternative.token)} ${percent(alternative.logprob)}`;
    button.setAttribute('aria-pressed', String(alternative.token === token.token));
    button.addEventListener('click', () => {
      view.dispatch({ effects: closeHoverTooltips }); // chosen: the list goes, the text is the writer's to read
      onChoose(from, alternative.token);
    });
    item.append(button);
    list.append(item);
  }
  dom.append(list);
  return dom;
}

/** Put these tokens on the text (the old ones go). */
export function showTokens(view: EditorView, placed: readonly PlacedToken[]): void {
  view.dispatch({ effects: setTokens.of(placed) });
}

/**
 * Generated words with their alternatives: hovering one shows them with their chances; choosing
 * one calls `onChoose(at, text)` with where the token starts (UTF-16) and the alternative.
 */
export function tokenProbabilities(onChoose: (at: number, text: string) => void): Extension {
  return [
    tokens,
    highlighting.of(highlightClass(false)),
    probabilityTheme,
    hoverTooltip((view, pos, side): Tooltip | null => {
      const found = tokenAt(view, pos, side);
      if (!found) return null;
      const { from, to, token } = found;
      return { pos: from, end: to, above: true, create: () => ({ dom: alternativesDom(view, token, from, onChoose) }) };
    }, { hoverTime: 150 }),
  ];
}

const highlighting = new Compartment();

function highlightClass(on: boolean): Extension {
  return EditorView.editorAttributes.of({ class: on ? 'cm-highlight-unlikely' : '' });
}

/** Whether unlikely words are highlighted: a class on the editor that the theme draws them under. */
export function highlightUnlikely(view: EditorView, on: boolean): void {
  view.dispatch({ effects: highlighting.reconfigure(highlightClass(on)) });
}

const probabilityTheme = EditorView.theme({
  '&.cm-highlight-unlikely .cm-token-unlikely': { backgroundColor: 'var(--highlight-unlikely, rgba(255, 196, 0, 0.35))' },
  '.cm-token-alternatives ul': { listStyle: 'none', margin: '0', padding: '0.25rem' },
  '.cm-token-alternatives button': { display: 'block', width: '100%', textAlign: 'left', font: 'inherit', padding: '0.15rem 0.5rem' },
});
