import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { components } from '../../../types/api.gen';

/** How many bytes the user's stories keep, of what storage quota (0: none). */
export type StorageUse = components['schemas']['StorageUse'];

export function getStorageUse(): Promise<StorageUse> {
  return apiJson<StorageUse>('/api/stories/storage');
}

/** Under the library's key, so that whatever refreshes the library refreshes this too. */
export function storageUseQueryOptions() {
  return queryOptions({ queryKey: ['stories', 'storage'], queryFn: getStorageUse });
}

export function useStorageUse() {
  return useQuery(storageUseQueryOptions());
}
