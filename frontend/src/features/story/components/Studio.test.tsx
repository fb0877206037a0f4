import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { BACKENDS, CONNECTED_STATUS, OLLAMA_ACTIVE } from '../../../test/fixtures';
import { storyBox, storyText } from '../../../test/editor';
import { renderPage } from '../../../test/render';
import { controlledStream, fakeServer, json, sseResponse } from '../../../test/server';
import type { ContextBudget, Story, UpdateStoryRequest } from '../../../types/api';
import type { StoryGenerationRequest } from '../api/types';
import { endEvents, generation, STORY, textEvent } from '../../../test/stories';
import { StoryPage } from './StoryPage';

type Routes = Parameters<typeof fakeServer>[0];

const BUDGET: ContextBudget = {
  action: 'continue',
  backend_type: 'ollama',
  model: 'llama2',
  context_length: 4096,
  context_source: 'ollama num_ctx',
  max_tokens: 600,
  prompt_tokens: 900,
  memory_tokens: 10,
  authors_note_tokens: 0,
  premise_tokens: 7,
  lorebook_tokens: 0,
  lorebook: [],
  lorebook_unusable_keys: [],
  story_tokens: 800,
  story_chars: 3200,
  story_chars_sent: 3200,
  trimmed_chars: 0,
  trimmed: false,
  used_fraction: 0.37,
};

const WITH_VERSIONS: Story = {
  ...STORY,
  content: 'Every night the clock ran back an hour. It chimed twice.',
  alternatives: { start: 39, chosen: 1, count: 2 },
  history: { position: 3, can_undo: true, can_redo: false, undo_label: 'regenerate', redo_label: null, steps: 3 },
};

/** The Story page's server with the studio's routes; every call is recorded. */
function studioBackend(routes: Routes = {}, initial: Story = WITH_VERSIONS) {
  let story: Story = { ...initial };
  const server = fakeServer({
    'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
    'GET /api/settings/llm/backends': () => json(BACKENDS),
    'GET /api/settings/llm/status': () => json(CONNECTED_STATUS),
    'GET /api/settings/llm/models': () => json({ backend_type: 'ollama', models: ['llama2', 'mistral:7b'], default_model: 'llama2', details: [] }),
    'GET /api/stories': () => json({ stories: [story] }),
    'GET /api/stories/7': () => json(story),
    'GET /api/stories/7/context': () => json(BUDGET),
    'GET /api/stories/7/revisions': () => json({ revisions: [] }),
    'PATCH /api/stories/7': (request) => {
      const changes: Partial<UpdateStoryRequest> = { ...(request.body as UpdateStoryRequest) };
      delete changes.base_revision;
      story = { ...story, ...(changes as Partial<Story>), revision: story.revision + 1 };
      return json(story);
    },
    ...routes,
  });
  return {
    ...server,
    story: () => story,
    set: (changes: Partial<Story>) => (story = { ...story, ...changes }),
    patches: () => server.sent('PATCH', '/api/stories/7').map((request) => request.body as UpdateStoryRequest),
  };
}

const openStory = () => renderPage(<StoryPage owner="local" />, { route: '/story/7' });

describe('The studio: writing on', () => {
  it('Continue sends the action and the story’s own controls; the server writes the prompt', async () => {
    const server = studioBackend({
      'POST /proxy/llm/v1/chat/completions': () => {
        server.set({ content: `${WITH_VERSIONS.content} More.`, revision: 9 }); // the job's text, on the server
        return sseResponse(textEvent(' More.', 6) + endEvents('finished', 6), { 'X-Taleweaver-Generation': '41' });
      },
    });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByText('Generation settings'));
    await user.click(screen.getByTestId('preset-creative'));
    await user.selectOptions(await screen.findByTestId('story-model'), 'mistral:7b');
    fireEvent.change(screen.getByTestId('story-max-tokens'), { target: { value: '300' } });
    await user.click(screen.getByTestId('continue-button'));
    await waitFor(() => expect(server.sent('POST', '/proxy/llm/v1/chat/completions')).toHaveLength(1));
    const sent = server.sent('POST', '/proxy/llm/v1/chat/completions')[0].body as StoryGenerationRequest;
    expect(sent).toEqual({
      model: 'mistral:7b',
      temperature: 1.1,
      top_p: 0.98,
      max_tokens: 300,
      stream: true,
      taleweaver: { story_id: 7, action: 'continue' },
    });
    // The controls are the story's: saved with it before the job started.
    expect(server.patches().at(-1)?.settings).toEqual({ model: 'mistral:7b', temperature: 1.1, top_p: 0.98, max_tokens: 300, preset: 'creative' });
    await waitFor(() => expect(storyText()).toBe(`${WITH_VERSIONS.content} More.`));
  });

  it('Regenerate shows the text before the passage while the new version arrives', async () => {
    const stream = controlledStream();
    const server = studioBackend({
      'POST /proxy/llm/v1/chat/completions': () => sseResponse(stream.stream, { 'X-Taleweaver-Generation': '41' }),
    });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByTestId('regenerate-button'));
    await waitFor(() => expect(storyText()).toBe('Every night the clock ran back an hour.'));
    stream.push(textEvent(' It stopped.', 12));
    await waitFor(() => expect(storyText()).toBe('Every night the clock ran back an hour. It stopped.'));
    const sent = server.sent('POST', '/proxy/llm/v1/chat/completions')[0].body as StoryGenerationRequest;
    expect(sent.taleweaver).toEqual({ story_id: 7, action: 'regenerate' });
    stream.push(endEvents('finished', 12));
    stream.close();
  });

  it('flips between the versions of the last passage (◀ 2/2 ▶) and shows the one the server keeps', async () => {
    const server = studioBackend({
      'POST /api/stories/7/alternatives': () =>
        json({ ...WITH_VERSIONS, revision: 4, content: 'Every night the clock ran back an hour. It slept.', alternatives: { start: 39, chosen: 0, count: 2 } }),
    });
    const user = userEvent.setup();
    openStory();
    expect(await screen.findByTestId('alternative-position')).toHaveTextContent('2/2');
    expect(screen.getByTestId('alternative-next')).toBeDisabled();
    await user.click(screen.getByTestId('alternative-previous'));
    await waitFor(() => expect(screen.getByTestId('alternative-position')).toHaveTextContent('1/2'));
    expect(storyText()).toBe('Every night the clock ran back an hour. It slept.');
    expect(server.sent('POST', '/api/stories/7/alternatives')[0].body).toEqual({ base_revision: 3, index: 0 });
  });

  it('undoes with the button and with Ctrl+Z outside the text, redoes with Ctrl+Shift+Z; inside the text Ctrl+Z is the field’s own', async () => {
    const undone = { ...WITH_VERSIONS, revision: 4, content: 'Every night the clock ran back an hour.', alternatives: null,
      history: { ...WITH_VERSIONS.history, position: 2, can_redo: true } };
    const server = studioBackend({
      'POST /api/stories/7/undo': () => json(undone),
      'POST /api/stories/7/redo': () => json({ ...WITH_VERSIONS, revision: 5 }),
    });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByTestId('undo-button'));
    await waitFor(() => expect(storyText()).toBe('Every night the clock ran back an hour.'));
    expect(screen.getByTestId('redo-button')).toBeEnabled();

    fireEvent.keyDown(storyBox(), { key: 'z', ctrlKey: true });
    expect(server.sent('POST', '/api/stories/7/undo')).toHaveLength(1);

    fireEvent.keyDown(document.body, { key: 'Z', ctrlKey: true, shiftKey: true });
    await waitFor(() => expect(storyText()).toBe(WITH_VERSIONS.content));
    expect(server.sent('POST', '/api/stories/7/redo')[0].body).toEqual({ base_revision: 4 });
    fireEvent.keyDown(document.body, { key: 'z', metaKey: true });
    await waitFor(() => expect(server.sent('POST', '/api/stories/7/undo')).toHaveLength(2));
  });

  it('Ctrl+Enter continues and Escape stops the generation it started', async () => {
    const stream = controlledStream();
    const server = studioBackend({
      'POST /proxy/llm/v1/chat/completions': () => sseResponse(stream.stream, { 'X-Taleweaver-Generation': '41' }),
      'POST /proxy/llm/v1/generations/41/stop': () => {
        stream.push(endEvents('stopped', 6));
        stream.close();
        return json(generation({ status: 'stopped' }));
      },
    });
    openStory();
    await screen.findByTestId('continue-button');
    fireEvent.keyDown(document.body, { key: 'Enter', ctrlKey: true });
    stream.push(textEvent(' Tick.', 6));
    await waitFor(() => expect(storyText()).toBe(`${WITH_VERSIONS.content} Tick.`));
    expect(screen.getByTestId('generation-progress')).toHaveTextContent(/\d+\.\d s/);
    fireEvent.keyDown(document.body, { key: 'Escape' });
    await waitFor(() => expect(server.sent('POST', '/proxy/llm/v1/generations/41/stop')).toHaveLength(1));
    expect(await screen.findByTestId('story-stopped')).toBeInTheDocument();
  });
});

describe('The studio: what the page tells', () => {
  it('shows memory and author’s note with their approximate token cost, and saves them', async () => {
    const server = studioBackend();
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByText('Memory and author\'s note'));
    await user.type(screen.getByTestId('story-memory'), 'Ada mends clocks.');
    expect(screen.getByTestId('memory-tokens')).toHaveTextContent('≈ 5 tokens');
    await waitFor(() => expect(server.patches().at(-1)).toMatchObject({ memory: 'Ada mends clocks.' }), { timeout: 4000 });
  });

  it('says how much of the context the next passage uses, and when old text is left out', async () => {
    studioBackend({ 'GET /api/stories/7/context': () => json({ ...BUDGET, trimmed: true, trimmed_chars: 12000 }) });
    openStory();
    const meter = await screen.findByTestId('context-meter');
    expect(meter).toHaveTextContent('≈ 1,500 of 4,096 tokens (from ollama num_ctx; 600 kept for the answer)');
    expect(within(meter).getByTestId('context-trimmed')).toHaveTextContent('oldest 12,000 characters are left out');
  });

  it('says a down backend before Generate is pressed', async () => {
    studioBackend({
      'GET /api/settings/llm/status': () =>
        json({ ...CONNECTED_STATUS, status: 'disconnected', error: 'Ollama did not answer at http://localhost:11434.', hint: 'Is `ollama serve` running?' }),
    });
    openStory();
    const status = await screen.findByTestId('backend-status');
    expect(status).toHaveTextContent('Ollama is not answering. Ollama did not answer at http://localhost:11434. Is `ollama serve` running?');
  });

  it('names a stop at the length limit and offers to continue; shows the last generation’s stats', async () => {
    studioBackend({}, {
      ...WITH_VERSIONS,
      last_generation: generation({
        status: 'finished',
        finish_reason: 'length',
        stats: { completion_tokens: 120, prompt_tokens: 40, tokens_source: 'backend', tokens_per_second: 42.5, time_to_first_token_ms: 350, elapsed_ms: 3200 },
      }),
    });
    openStory();
    expect(await screen.findByTestId('length-stop')).toHaveTextContent('The model stopped at its length limit — Continue?');
    expect(within(screen.getByTestId('length-stop')).getByRole('button', { name: 'Continue?' })).toBeEnabled();
    expect(screen.getByTestId('generation-stats')).toHaveTextContent(
      'Last generation: 120 tokens · 42.5 tokens/s · first token after 0.35 s · 3.2 s in all',
    );
  });

  it('renders the text as Markdown in the reader, without running raw HTML', async () => {
    studioBackend({}, { ...WITH_VERSIONS, content: '# Night\n\nIt *chimed*.\n\n<img src="x" onerror="alert(1)">' });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByTestId('edit-toggle'));
    const reader = screen.getByTestId('story-reader');
    expect(within(reader).getByRole('heading', { name: 'Night' })).toBeInTheDocument();
    expect(reader.querySelector('em')).toHaveTextContent('chimed');
    expect(reader.querySelector('img')).toBeNull();
  });
});

describe('The page around the text', () => {
  it('marks the last generated passage, the one Regenerate writes again', async () => {
    studioBackend();
    openStory();
    await screen.findByLabelText('Story text');
    const marked = document.querySelectorAll('.cm-last-passage');
    expect(Array.from(marked, (element) => element.textContent).join('')).toBe(' It chimed twice.');
  });

  it('shows and hides the story setup, and focus mode hides everything but the text until it is left (Escape)', async () => {
    studioBackend();
    const user = userEvent.setup();
    openStory();
    await screen.findByLabelText('Story text');
    const setup = screen.getByRole('complementary', { name: 'Story setup' });
    const setupButton = screen.getByRole('button', { name: 'Story setup' });
    expect(setupButton).toHaveAttribute('aria-expanded', 'true');
    await user.click(setupButton);
    expect(setupButton).toHaveAttribute('aria-expanded', 'false');
    expect(setup).not.toBeVisible();
    await user.click(setupButton);
    expect(setup).toBeVisible();

    const focusButton = screen.getByRole('button', { name: 'Focus mode' });
    await user.click(focusButton);
    expect(focusButton).toHaveAttribute('aria-pressed', 'true');
    expect(document.documentElement).toHaveAttribute('data-focus-mode', 'on');
    fireEvent.keyDown(document.body, { key: 'Escape' });
    expect(focusButton).toHaveAttribute('aria-pressed', 'false');
    expect(document.documentElement).not.toHaveAttribute('data-focus-mode');
  });
});
