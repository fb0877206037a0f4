import { useMutation, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import type { CreateStoryRequest, Story } from '../../../types/api';
import { storiesQueryOptions } from './get-stories';

export function createStory(story: CreateStoryRequest): Promise<Story> {
  return apiJson<Story>('/api/stories', { method: 'POST', body: story });
}

export function useCreateStory() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createStory,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey }),
  });
}
