import { apiJson } from '../../../lib/api-client';
import type { Story, UpdateStoryRequest } from '../../../types/api';

// Browsers refuse keepalive bodies over 64 KiB in all; a longer story is sent as a normal request.
const KEEPALIVE_LIMIT = 60_000;

/** Saves changed fields over `base_revision`; a 409 `revision_conflict` means someone else saved first. */
export function updateStory(id: number, changes: UpdateStoryRequest, { keepalive = false } = {}): Promise<Story> {
  const small = new Blob([JSON.stringify(changes)]).size <= KEEPALIVE_LIMIT;
  return apiJson<Story>(`/api/stories/${id}`, { method: 'PATCH', body: changes, keepalive: keepalive && small });
}
