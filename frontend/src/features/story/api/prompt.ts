// The Prompt view's calls: what the next generation would send, and what a past one sent.
import { apiJson } from '../../../lib/api-client';
import type { KeptPrompt, NextPrompt } from '../../../types/api';
import type { BudgetQuery } from './studio';

export function getNextPrompt(storyId: number, { action, model, maxTokens, contextLength }: BudgetQuery): Promise<NextPrompt> {
  const query = new URLSearchParams({ action });
  if (model) query.set('model', model);
  if (maxTokens) query.set('max_tokens', String(maxTokens));
  if (contextLength) query.set('context_length', String(contextLength));
  return apiJson<NextPrompt>(`/api/stories/${storyId}/prompt?${query}`);
}

export function getKeptPrompt(generationId: number): Promise<KeptPrompt> {
  return apiJson<KeptPrompt>(`/proxy/llm/v1/generations/${generationId}/prompt`);
}
