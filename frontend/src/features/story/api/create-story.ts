import { apiJson } from '../../../lib/api-client';
import type { CreateStoryRequest, StoryDocument } from './types';

export function createStory(story: CreateStoryRequest): Promise<StoryDocument> {
  return apiJson<StoryDocument>('/api/stories', { method: 'POST', body: story });
}
