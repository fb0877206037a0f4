import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { Story } from '../../../types/api';

export function getStory(id: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${id}`);
}

export function storyQueryOptions(id: number) {
  return queryOptions({ queryKey: ['story', id], queryFn: () => getStory(id) });
}

export function useStory(id: number) {
  return useQuery(storyQueryOptions(id));
}
