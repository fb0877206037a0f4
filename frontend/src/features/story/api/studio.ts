// The studio's calls: the context budget, versions of the last passage, undo/redo, downloads and import.
import { queryOptions, useQuery } from '@tanstack/react-query';
import { apiFetch, apiJson } from '../../../lib/api-client';
import type { ContextBudget, LibraryBackup, Story } from '../../../types/api';

export interface BudgetQuery {
  action: 'continue' | 'regenerate';
  model?: string;
  maxTokens?: number;
  /** The writer's context size (the generation sends it as context_length). */
  contextLength?: number;
}

/** The query of /context and /prompt: the next generation's action, model, answer reserve and context size. */
export function budgetSearch({ action, model, maxTokens, contextLength }: BudgetQuery): URLSearchParams {
  const query = new URLSearchParams({ action });
  if (model) query.set('model', model);
  if (maxTokens) query.set('max_tokens', String(maxTokens));
  if (contextLength) query.set('context_length', String(contextLength));
  return query;
}

export function getContextBudget(storyId: number, budget: BudgetQuery): Promise<ContextBudget> {
  return apiJson<ContextBudget>(`/api/stories/${storyId}/context?${budgetSearch(budget)}`);
}

/** How much of the model's context the next passage would use; asked again at each revision. */
export function contextBudgetQueryOptions(storyId: number, revision: number, budget: BudgetQuery) {
  return queryOptions({
    queryKey: ['story', storyId, 'context', revision, budget],
    queryFn: () => getContextBudget(storyId, budget),
    staleTime: 30_000,
    retry: false,
  });
}

export function useContextBudget(storyId: number | null, revision: number, budget: BudgetQuery, enabled: boolean) {
  return useQuery({ ...contextBudgetQueryOptions(storyId ?? 0, revision, budget), enabled: enabled && storyId !== null });
}

/** Puts version `index` (from 0) of the last generated passage in the text. */
export function chooseAlternative(storyId: number, baseRevision: number, index: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${storyId}/alternatives`, { method: 'POST', body: { base_revision: baseRevision, index } });
}

export function undoStory(storyId: number, baseRevision: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${storyId}/undo`, { method: 'POST', body: { base_revision: baseRevision } });
}

export function redoStory(storyId: number, baseRevision: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${storyId}/redo`, { method: 'POST', body: { base_revision: baseRevision } });
}

/** Saves an answer of the server as a file (the request carries the login token, a plain link would not). */
async function download(path: string, fallbackName: string): Promise<void> {
  const response = await apiFetch(path);
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const name = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1] ?? /filename="?([^";]+)"?/i.exec(disposition)?.[1];
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name ? decodeURIComponent(name) : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function downloadStory(storyId: number, format: 'markdown' | 'text'): Promise<void> {
  return download(`/api/stories/${storyId}/export?format=${format}`, format === 'markdown' ? 'story.md' : 'story.txt');
}

export function downloadBackup(): Promise<void> {
  return download('/api/stories/backup', 'taleweaver-library.json');
}

export interface ImportResult {
  imported: number;
  stories: { id: number; title: string }[];
}

/** Adds a backup's stories as new stories; never over an existing one. */
export function importLibrary(backup: LibraryBackup): Promise<ImportResult> {
  return apiJson<ImportResult>('/api/stories/import', { method: 'POST', body: backup });
}

/** Puts version `index` of the story's rewrite proposal in place of its range (one undo step). */
export function acceptProposal(storyId: number, baseRevision: number, index: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${storyId}/proposal/accept`, { method: 'POST', body: { base_revision: baseRevision, index } });
}

/** Drops the story's rewrite proposal; the text stays as it is. */
export function discardProposal(storyId: number, baseRevision: number): Promise<Story> {
  return apiJson<Story>(`/api/stories/${storyId}/proposal/discard`, { method: 'POST', body: { base_revision: baseRevision } });
}
