import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { StoriesResponse } from '../../../types/api';

export type LibrarySort = 'updated' | 'created' | 'title';

export interface LibraryQuery {
  q?: string;
  sort?: LibrarySort;
}

export function getStories({ q = '', sort = 'updated' }: LibraryQuery = {}): Promise<StoriesResponse> {
  const query = new URLSearchParams();
  if (q.trim()) query.set('q', q.trim());
  if (sort !== 'updated') query.set('sort', sort);
  const suffix = query.size ? `?${query}` : '';
  return apiJson<StoriesResponse>(`/api/stories${suffix}`);
}

/** The user's library, most recently edited first; its key is the prefix of every search's key. */
export function storiesQueryOptions(library: LibraryQuery = {}) {
  const { q = '', sort = 'updated' } = library;
  return queryOptions({
    queryKey: q.trim() || sort !== 'updated' ? ['stories', { q: q.trim(), sort }] : ['stories'],
    queryFn: () => getStories(library),
    placeholderData: keepPreviousData,
  });
}

export function useStories(library: LibraryQuery = {}) {
  return useQuery(storiesQueryOptions(library));
}
