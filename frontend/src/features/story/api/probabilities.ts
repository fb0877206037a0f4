import { useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { StoryProbabilities, TokenProbability } from '../../../types/api';

export type { StoryProbabilities, TokenProbability };

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
