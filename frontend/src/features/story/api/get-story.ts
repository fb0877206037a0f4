import { queryOptions } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { Story } from '../../../types/api';

export function getStory(id: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${id}`);
}

/** One story as the server has it now: never served from a cache, since the page edits from it. */
export function storyQueryOptions(id: number) {
  return queryOptions({ queryKey: ['story', id], queryFn: () => getStory(id), staleTime: 0, gcTime: 0 });
}
