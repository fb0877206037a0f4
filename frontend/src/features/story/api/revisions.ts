import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { Revision, RevisionList, Story } from '../../../types/api';

export function getRevisions(storyId: number): Promise<RevisionList> {
  return apiJson<RevisionList>(`/api/stories/${storyId}/revisions`);
}

export function revisionsQueryOptions(storyId: number) {
  return queryOptions({ queryKey: ['story', storyId, 'revisions'], queryFn: () => getRevisions(storyId) });
}

/** A story's revisions, newest first. */
export function useRevisions(storyId: number) {
  return useQuery(revisionsQueryOptions(storyId));
}

export function getRevision(storyId: number, revision: number): Promise<Revision> {
  return apiJson<Revision>(`/api/stories/${storyId}/revisions/${revision}`);
}

export function revisionQueryOptions(storyId: number, revision: number) {
  return queryOptions({ queryKey: ['story', storyId, 'revisions', revision], queryFn: () => getRevision(storyId, revision) });
}

/** One revision with its text. */
export function useRevision(storyId: number, revision: number) {
  return useQuery(revisionQueryOptions(storyId, revision));
}

/** Makes an old revision the story's text again; the text it replaces stays a revision too. */
export function restoreRevision(storyId: number, revision: number, baseRevision: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${storyId}/revisions/${revision}/restore`, {
    method: 'POST',
    body: { base_revision: baseRevision },
  });
}
