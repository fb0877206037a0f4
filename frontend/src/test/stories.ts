// Stories and generation events as the server sends them, for the Story page's tests.
import type { Generation, Story } from '../types/api';

export const STORY: Story = {
  id: 7,
  title: 'The Clockmaker',
  premise: 'A clock that runs backwards',
  genre: 'mystery',
  length: 'short',
  word_count: 7,
  revision: 3,
  created_at: '2026-11-27T20:00:00.000Z',
  updated_at: '2026-11-27T20:05:00.000Z',
  generation_status: null,
  content: 'Every night the clock ran back an hour.',
  settings: {},
  backend_type: 'lmstudio',
  model: 'mistral-7b',
  active_generation: null,
  last_generation: null,
  memory: '',
  authors_note: '',
  alternatives: null,
  history: { position: 1, can_undo: false, can_redo: false, undo_label: null, redo_label: null, steps: 1 },
  auto_title: false,
};

export function generation(changes: Partial<Generation> = {}): Generation {
  return {
    id: 41,
    story_id: STORY.id,
    status: 'running',
    backend_type: 'ollama',
    model: 'llama2:7b',
    params: {},
    started_at: '2026-11-27T20:06:00Z',
    finished_at: null,
    text_length: 0,
    finish_reason: null,
    usage: null,
    error: null,
    ...changes,
  };
}

function chunk(delta: Record<string, string>, finishReason: string | null = null, taleweaver?: unknown) {
  return {
    id: 'gen-41',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'llama2:7b',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
    ...(taleweaver ? { taleweaver } : {}),
  };
}

/** A text event: `id` is the offset after this text (code points of generated text). */
export function textEvent(text: string, offsetAfter: number): string {
  return `id: ${offsetAfter}\ndata: ${JSON.stringify(chunk({ content: text }))}\n\n`;
}

export function reasoningEvent(text: string, offset: number): string {
  return `id: ${offset}\ndata: ${JSON.stringify(chunk({ reasoning_content: text }))}\n\n`;
}

/** The last chunk of a generation's stream, then [DONE]. */
export function endEvents(
  status: 'finished' | 'stopped' | 'failed' | 'interrupted',
  offset: number,
  error: { message: string; type?: string; code?: string } | null = null,
): string {
  const finish = status === 'finished' ? 'stop' : null;
  return `id: ${offset}\ndata: ${JSON.stringify(chunk({}, finish, { status, error, usage: null }))}\n\ndata: [DONE]\n\n`;
}
