import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { CreateStoryRequest, StoriesResponse, Story } from '../types/LLMTypes';
import { apiJson } from './api';

export const storyKeys = {
  all: ['stories'] as const,
  detail: (id: number) => ['stories', id] as const,
};

export function listStories(): Promise<StoriesResponse> {
  return apiJson<StoriesResponse>('/api/stories');
}

export function getStory(id: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${id}`);
}

export function createStory(story: CreateStoryRequest): Promise<Story> {
  return apiJson<Story>('/api/stories', { method: 'POST', body: story });
}

export function deleteStory(id: number): Promise<void> {
  return apiJson<void>(`/api/stories/${id}`, { method: 'DELETE' });
}

export function useStories() {
  return useQuery({ queryKey: storyKeys.all, queryFn: listStories });
}

export function useStory(id: number) {
  return useQuery({ queryKey: storyKeys.detail(id), queryFn: () => getStory(id) });
}

export function useCreateStory() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createStory,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: storyKeys.all }),
  });
}

export function useDeleteStory() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: deleteStory,
    onSuccess: (_, id) => {
      queryClient.removeQueries({ queryKey: storyKeys.detail(id) });
      return queryClient.invalidateQueries({ queryKey: storyKeys.all, exact: true });
    },
  });
}
