import { type ChangeDesc, type Extension, Facet, StateEffect, StateField } from '@codemirror/state';
import { Decoration, EditorView, WidgetType } from '@codemirror/view';
import type { TextRange } from './marks';

/** Text proposed in place of a stretch of the story (a rewrite), shown inline until the writer chooses. */
export interface Proposal extends TextRange {
  text: string;
  /** Still arriving: Accept waits until it is whole. */
  pending: boolean;
}

/** What the proposal's buttons do; the page decides (Accept usually calls `acceptProposal`). */
export interface ProposalActions {
  accept: () => void;
  retry: () => void;
  discard: () => void;
}

const proposalActions = Facet.define<ProposalActions, ProposalActions | null>({ combine: (values) => values[0] ?? null });

function mapProposal(proposal: Proposal | null, changes: ChangeDesc): Proposal | null {
  return proposal && { ...proposal, from: changes.mapPos(proposal.from, 1), to: changes.mapPos(proposal.to, -1) };
}

/** Shows a proposal (or, with null, takes it away). */
export const setProposal = StateEffect.define<Proposal | null>({ map: mapProposal });

function button(label: string, onClick: (() => void) | undefined): HTMLButtonElement {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  element.onclick = () => onClick?.();
  return element;
}

/** The proposed text and its three buttons, after the stretch it would replace. */
class ProposalWidget extends WidgetType {
  constructor(
    readonly text: string,
    readonly pending: boolean,
  ) {
    super();
  }

  eq(other: ProposalWidget): boolean {
    return other.text === this.text && other.pending === this.pending;
  }

  toDOM(view: EditorView): HTMLElement {
    const actions = view.state.facet(proposalActions);
    const box = document.createElement('span');
    box.className = 'cm-proposal';
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Proposed text');
    const text = document.createElement('span');
    text.className = 'cm-proposal-text';
    const buttons = document.createElement('span');
    buttons.className = 'cm-proposal-buttons';
    buttons.append(button('Accept', actions?.accept), button('Try again', actions?.retry), button('Discard', actions?.discard));
    box.append(text, buttons);
    this.updateDOM(box);
    return box;
  }

  updateDOM(box: HTMLElement): boolean {
    (box.firstChild as HTMLElement).textContent = this.text;
    box.setAttribute('aria-busy', String(this.pending));
    box.querySelectorAll('button').forEach((element, index) => (element.disabled = this.pending && index < 2));
    return true;
  }

  ignoreEvent(): boolean {
    return true; // the buttons take their own clicks
  }
}

const replaced = Decoration.mark({ class: 'cm-proposal-replaced' });

const proposalField = StateField.define<Proposal | null>({
  create: () => null,
  update(proposal, transaction) {
    let next = mapProposal(proposal, transaction.changes);
    for (const effect of transaction.effects) if (effect.is(setProposal)) next = effect.value;
    return next;
  },
  provide: (field) =>
    EditorView.decorations.from(field, (proposal) =>
      proposal
        ? Decoration.set([
            ...(proposal.from < proposal.to ? [replaced.range(proposal.from, proposal.to)] : []),
            Decoration.widget({ widget: new ProposalWidget(proposal.text, proposal.pending), side: 1 }).range(proposal.to),
          ])
        : Decoration.none,
    ),
});

/** Inline proposals, their buttons doing `actions`. */
export function proposals(actions: ProposalActions): Extension {
  return [proposalField, proposalActions.of(actions)];
}

export function currentProposal(view: EditorView): Proposal | null {
  return view.state.field(proposalField, false) ?? null;
}

/**
 * Puts the proposal in place of exactly the stretch it proposes to replace, as one step of the
 * editor's history; returns where the accepted text now is (null when there is no whole proposal).
 */
export function acceptProposal(view: EditorView): TextRange | null {
  const proposal = currentProposal(view);
  if (!proposal || proposal.pending) return null;
  view.dispatch({
    changes: { from: proposal.from, to: proposal.to, insert: proposal.text },
    effects: setProposal.of(null),
    userEvent: 'input.replace',
  });
  return { from: proposal.from, to: proposal.from + proposal.text.length };
}
