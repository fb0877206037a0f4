// The issue-10 story and generation shapes, as the contract between the Story page and the
// server gives them. They move to the generated types (src/types/api.ts) once
// backend/openapi.json describes them.
import type { ChatCompletionRequest } from '../../../types/api';

export type GenerationStatus = 'running' | 'finished' | 'stopped' | 'failed' | 'interrupted';

/** An OpenAI-shaped error as a generation records it. */
export interface GenerationErrorBody {
  message: string;
  type?: string | null;
  code?: string | null;
  param?: string | null;
}

/** A server-side generation job of one story. `text_length` counts Unicode code points. */
export interface Generation {
  id: number;
  story_id: number;
  status: GenerationStatus;
  backend_type: string | null;
  model: string | null;
  params?: Record<string, unknown> | null;
  started_at: string | null;
  finished_at: string | null;
  text_length: number;
  finish_reason: string | null;
  usage?: Record<string, unknown> | null;
  error: GenerationErrorBody | null;
}

export interface StorySummary {
  id: number;
  title: string;
  premise: string;
  genre: string;
  length: string;
  word_count: number;
  revision: number;
  created_at: string;
  updated_at: string;
  generation_status: GenerationStatus | null;
}

export interface StoryDocument extends StorySummary {
  content: string;
  settings: Record<string, unknown>;
  backend_type: string | null;
  model: string | null;
  active_generation: Generation | null;
  last_generation: Generation | null;
}

export interface StoryList {
  stories: StorySummary[];
}

/** What the user edits; every one of them is autosaved. */
export interface StoryFields {
  title: string;
  premise: string;
  genre: string;
  length: string;
  content: string;
}

export type CreateStoryRequest = Partial<StoryFields> & { settings?: Record<string, unknown> };
export type UpdateStoryRequest = Partial<StoryFields> & { base_revision: number };

export type RevisionReason = 'edit' | 'generation' | 'restore';

export interface RevisionSummary {
  revision: number;
  created_at: string;
  word_count: number;
  title: string;
  reason: RevisionReason;
}

export interface Revision extends RevisionSummary {
  content: string;
  premise: string;
}

export interface RevisionList {
  revisions: RevisionSummary[];
}

/** A chat completion that runs as a job of the named story (Taleweaver's extension field). */
export type StoryGenerationRequest = ChatCompletionRequest & { taleweaver: { story_id: number } };
