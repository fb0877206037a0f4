import { useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';

// Typed by hand until backend/openapi.json describes GET /api/stories/{id}/probabilities
// (/work/notes/openapi-probabilities.json): to be replaced by api.gen.ts's StoryProbabilities.

/** One generated token with its likeliest alternatives; offsets in code points of the story's text. */
export interface TokenProbability {
  start: number;
  stop: number;
  token: string;
  logprob: number;
  top: { token: string; logprob: number }[];
}

/** The token probabilities of a story's last generated passage, for its text at `revision`. */
export interface StoryProbabilities {
  revision: number;
  tokens: TokenProbability[];
  /** Why the newest generation has none though the story asked for them. */
  note: string | null;
}

export function getProbabilities(storyId: number): Promise<StoryProbabilities> {
  return apiJson<StoryProbabilities>(`/api/stories/${storyId}/probabilities`);
}

/** Asked again for each revision the page has of the story, while the story shows probabilities. */
export function useProbabilities(storyId: number | null, revision: number | undefined, enabled: boolean) {
  return useQuery({
    queryKey: ['stories', storyId, 'probabilities', revision],
    queryFn: () => getProbabilities(storyId as number),
    enabled: enabled && storyId !== null && revision !== undefined,
  });
}
