import { useMemo } from 'react';
import { type TokenProbability, useProbabilities } from '../api/probabilities';
import type { DocumentSnapshot } from '../lib/document-sync';
import type { PlacedToken } from '../lib/editor/probabilities';
import { readSettings } from '../lib/generationSettings';

/**
 * The story's generated words with their alternatives, placed in the editor's text: given only
 * while the page shows the very text the server answered for (undefined otherwise: the editor
 * keeps them where edits moved them), and why there are none when the backend gave none.
 */
export function useTokenProbabilities(doc: DocumentSnapshot) {
  const { storyId, fields, server } = doc;
  const shown = readSettings(fields.settings).show_probabilities === true;
  const answer = useProbabilities(storyId, server?.revision, shown).data;
  const current = Boolean(answer && server && answer.revision === server.revision && server.content === fields.content);
  const tokens = useMemo((): PlacedToken[] | undefined => {
    if (!shown) return [];
    if (!answer || !current) return undefined;
    return placed(fields.content, answer.tokens);
  }, [answer, current, shown, fields.content]);
  return { shown, tokens, note: shown ? (answer?.note ?? null) : null };
}

/** The tokens in UTF-16 positions of `content` (the server counts code points), in one pass over the text. */
function placed(content: string, tokens: readonly TokenProbability[]): PlacedToken[] {
  let unit = 0;
  let point = 0;
  const at = (target: number) => {
    while (point < target && unit < content.length) {
      unit += (content.codePointAt(unit) ?? 0) > 0xffff ? 2 : 1;
      point += 1;
    }
    return unit;
  };
  return tokens.map((token) => ({ from: at(token.start), to: at(token.stop), token: token.token, logprob: token.logprob, top: token.top }));
}
