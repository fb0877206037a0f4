import { useState } from 'react';
import type { Story } from '../../../types/api';
import { acceptProposal, discardProposal } from '../api/studio';
import type { DocumentSync } from '../lib/document-sync';
import type { TextRange } from '../lib/editor/marks';
import type { Proposal } from '../lib/editor/proposal';
import { readSettings, requestParams } from '../lib/generationSettings';
import { codePointLength, codeUnitIndex } from '../lib/text';
import type { useStoryGeneration } from './useStoryGeneration';

/** The ready instructions; the writer may type their own. */
export const READY_INSTRUCTIONS = ['More vivid', 'Shorter', 'More dialogue', 'Fix grammar and spelling'];
/** Try again after a reload, when the instruction the proposal was asked with is not known here. */
const ANOTHER_WAY = 'Write it another way.';

type Generation = Pick<ReturnType<typeof useStoryGeneration>, 'start' | 'isRunning' | 'rewriting' | 'proposal'>;

/** What the editor shows of a rewrite: the proposal in view, which of how many versions it is. */
export interface ShownProposal extends Proposal {
  index: number;
  count: number;
}

/**
 * "Rewrite": asks the model for another version of a selection (a proposal; the text stays as it
 * is), shows the proposal as it streams and then the versions the server keeps (◀ ▶ between them),
 * and accepts one (in place of exactly the selection, one undo step on the server) or discards them.
 */
export function useRewrite(sync: DocumentSync, server: Story | null, content: string, generation: Generation) {
  // The range (UTF-16) of the rewrite this page asked for, until the server's proposal says it.
  const [asked, setAsked] = useState<TextRange | null>(null);
  const [instruction, setInstruction] = useState('');
  const [flipped, setFlipped] = useState<number | null>(null);
  const [error, setError] = useState<Error | null>(null);

  const saved = server?.proposal ?? null;
  const range = saved ? { from: codeUnitIndex(content, saved.start), to: codeUnitIndex(content, saved.stop) } : asked;
  const streaming = generation.isRunning && generation.rewriting;
  let shown: ShownProposal | null = null;
  if (range && streaming) {
    const count = (saved?.versions.length ?? 1) + 1;
    shown = { ...range, text: generation.proposal, pending: true, index: count - 1, count };
  } else if (range && saved && saved.versions.length > 1) {
    const index = Math.min(flipped ?? saved.chosen, saved.versions.length - 1);
    shown = { ...range, text: saved.versions[index], pending: false, index, count: saved.versions.length };
  }

  const start = async (selection: TextRange, how: string) => {
    setError(null);
    if (!(await sync.settle())) return;
    const { storyId, fields } = sync.getSnapshot();
    if (storyId === null || selection.from >= selection.to) return;
    const text = fields.content;
    setAsked(selection);
    setInstruction(how);
    setFlipped(null);
    const [startAt, stopAt] = [codePointLength(text.slice(0, selection.from)), codePointLength(text.slice(0, selection.to))];
    await generation.start({
      ...requestParams(readSettings(fields.settings)),
      taleweaver: { story_id: storyId, action: 'rewrite', start: startAt, stop: stopAt, instruction: how },
    });
  };

  const decide = async (call: (id: number, base: number) => Promise<Story>) => {
    setError(null);
    try {
      const { storyId, revision } = sync.getSnapshot();
      if (storyId === null) return;
      sync.adopt(await call(storyId, revision));
      setAsked(null);
      setFlipped(null);
    } catch (problem) {
      setError(problem instanceof Error ? problem : new Error(String(problem)));
    }
  };

  return {
    shown,
    error,
    start,
    retry: () => void (range && start(range, instruction || ANOTHER_WAY)),
    accept: () => void (shown && !shown.pending && decide((id, base) => acceptProposal(id, base, shown.index))),
    discard: () => void decide(discardProposal),
    flip: (index: number) => setFlipped(index),
  };
}
