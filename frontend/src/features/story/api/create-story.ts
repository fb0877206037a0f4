import { apiJson } from '../../../lib/api-client';
import type { CreateStoryRequest, Story } from '../../../types/api';

export function createStory(story: CreateStoryRequest): Promise<Story> {
  return apiJson<Story>('/api/stories', { method: 'POST', body: story });
}
