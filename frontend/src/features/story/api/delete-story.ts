import { useMutation, useQueryClient } from '@tanstack/react-query';
import { apiJson } from '../../../lib/api-client';
import { storiesQueryOptions } from './get-stories';
import { storyQueryOptions } from './get-story';

export function deleteStory(id: number): Promise<void> {
  return apiJson<void>(`/api/stories/${id}`, { method: 'DELETE' });
}

export function useDeleteStory() {
  const queryClient = useQueryClient();
  const [story] = storyQueryOptions(0).queryKey;
  const [library] = storiesQueryOptions().queryKey;
  return useMutation({
    mutationFn: deleteStory,
    onSuccess: (_, id) => {
      // The deleted story's queries that a page still shows go with that page (asked again, they would be a 404).
      queryClient.removeQueries({
        predicate: (query) => query.queryKey[0] === story && query.queryKey[1] === id && query.getObserversCount() === 0,
      });
      return queryClient.invalidateQueries({ predicate: (query) => query.queryKey[0] === library });
    },
  });
}
