import { useMutation, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import { storiesQueryOptions } from './get-stories';
import { storyQueryOptions } from './get-story';

export function deleteStory(id: number): Promise<void> {
  return apiJson<void>(`/api/stories/${id}`, { method: 'DELETE' });
}

export function useDeleteStory() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: deleteStory,
    onSuccess: (_, id) => {
      queryClient.removeQueries({ queryKey: storyQueryOptions(id).queryKey });
      return queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
    },
  });
}
