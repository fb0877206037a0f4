import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { StoriesResponse } from '../../../types/api';

export function getStories(): Promise<StoriesResponse> {
  return apiJson<StoriesResponse>('/api/stories');
}

/** The user's library, most recently edited first. */
export function storiesQueryOptions() {
  return queryOptions({ queryKey: ['stories'], queryFn: getStories });
}

export function useStories() {
  return useQuery(storiesQueryOptions());
}
