import { useState } from 'react';
import type { Story } from '../../../types/api';
import { restoreRevision } from '../api/revisions';
import { chooseAlternative, downloadStory, redoStory, undoStory } from '../api/studio';
import type { DocumentSync } from '../lib/document-sync';
import { readSettings, requestParams } from '../lib/generationSettings';
import { codePointLength } from '../lib/text';
import type { useStoryGeneration } from './useStoryGeneration';

export type GenerateAction = 'new' | 'continue' | 'regenerate';

/**
 * What the writer asks of the saved story: a generation, undo/redo, another version, a revision
 * restored, a download. Each waits until the latest edits are saved, and its failure is kept in `error`.
 */
export function useStoryActions(sync: DocumentSync, generation: Pick<ReturnType<typeof useStoryGeneration>, 'start'>) {
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);

  /**
   * `new`: a new story from the premise (the text it replaces stays in Revisions and Undo);
   * `continue`: the next passage; `regenerate`: another version of the last generated passage.
   */
  const generate = async (action: GenerateAction) => {
    setError(null);
    if (!(await sync.settle())) return;
    if (action === 'new' && sync.getSnapshot().fields.content !== '') {
      sync.edit({ content: '' });
      if (!(await sync.settle())) return;
    }
    const { storyId: id, fields: now, server: story } = sync.getSnapshot();
    if (id === null) return;
    if (action === 'regenerate') {
      if (!story?.alternatives) return;
      sync.cutForRegeneration(story.alternatives.start);
    }
    await generation.start({
      ...requestParams(readSettings(now.settings)),
      taleweaver: { story_id: id, action: action === 'regenerate' ? 'regenerate' : 'continue' },
    });
  };

  /** "Write here": the model writes at `cursor` (UTF-16, in the page's text); the text after it stays as it is. */
  const writeHere = async (cursor: number) => {
    setError(null);
    if (!(await sync.settle())) return;
    const { storyId: id, fields: now } = sync.getSnapshot();
    if (id === null) return;
    const at = Math.min(cursor, now.content.length);
    const position = codePointLength(now.content.slice(0, at));
    await generation.start({ ...requestParams(readSettings(now.settings)), taleweaver: { story_id: id, action: 'insert', position } }, at);
  };

  /**
   * The writer chose `text` instead of the generated token at `at` (UTF-16): the text is cut
   * there, the choice put in, and the model continues from it; the passage as it was stays a
   * version (◀ ▶), and one Undo brings it back.
   */
  const reroll = async (at: number, text: string) => {
    setError(null);
    if (!(await sync.settle())) return;
    const { storyId: id, fields: now } = sync.getSnapshot();
    if (id === null) return;
    const kept = now.content.slice(0, at);
    sync.cutForRegeneration(codePointLength(kept));
    sync.appendGenerated(text);
    await generation.start({
      ...requestParams(readSettings(now.settings)),
      taleweaver: { story_id: id, action: 'continue', reroll: { at: codePointLength(kept), text } },
    });
  };

  /** A studio call on the saved story (undo, redo, a version chosen): its answer is the story. */
  const studioCall = async (call: (id: number, base: number) => Promise<Story>) => {
    setError(null);
    setBusy(true);
    try {
      if (!(await sync.settle())) return;
      const { storyId: id, revision: base } = sync.getSnapshot();
      if (id === null) return;
      sync.adopt(await call(id, base));
    } catch (problem) {
      setError(problem instanceof Error ? problem : new Error(String(problem)));
    } finally {
      setBusy(false);
    }
  };

  return {
    generate,
    writeHere,
    reroll,
    undo: () => void studioCall(undoStory),
    redo: () => void studioCall(redoStory),
    /** Puts version `index` of the last generated passage in the text. */
    flip: (index: number) => void studioCall((id, base) => chooseAlternative(id, base, index)),
    /** Makes an old revision the text; its failure is the revisions panel's to show. */
    restore: async (revision: number) => {
      const saved = await sync.settle();
      const { storyId, revision: base } = sync.getSnapshot();
      if (!saved || storyId === null) throw new Error('Your latest changes are not saved yet; try again once they are.');
      sync.adopt(await restoreRevision(storyId, revision, base));
    },
    download: (storyId: number, format: 'markdown' | 'text') => void downloadStory(storyId, format).catch(setError),
    busy,
    error,
  };
}
