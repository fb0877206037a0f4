// The Prompt view's calls: what the next generation would send, and what a past one sent.
import { apiJson } from '../../../lib/api-client';
import type { KeptPrompt, NextPrompt } from '../../../types/api';
import { type BudgetQuery, budgetSearch } from './studio';

export function getNextPrompt(storyId: number, budget: BudgetQuery): Promise<NextPrompt> {
  return apiJson<NextPrompt>(`/api/stories/${storyId}/prompt?${budgetSearch(budget)}`);
}

export function getKeptPrompt(generationId: number): Promise<KeptPrompt> {
  return apiJson<KeptPrompt>(`/proxy/llm/v1/generations/${generationId}/prompt`);
}
