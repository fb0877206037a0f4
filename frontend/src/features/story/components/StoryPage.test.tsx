import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { NOTHING_SAVED, OLLAMA_ACTIVE } from '../../../test/fixtures';
import { renderPage } from '../../../test/render';
import { apiError, chunkEvent, controlledStream, fakeServer, json, sseResponse } from '../../../test/server';
import type { ChatCompletionRequest, Story, StorySummary } from '../../../types/api';
import { StoryPage } from './StoryPage';

const PREMISE = 'A lighthouse keeper finds a letter from the future.';
const ORIGIN_HEADERS = { 'X-Taleweaver-Backend': 'ollama', 'X-Taleweaver-Model': 'llama2:7b' };

const SAVED_STORY: Story = {
  id: 7,
  title: 'The Clockmaker',
  premise: 'A clock that runs backwards',
  prompt: 'A clock that runs backwards',
  genre: 'fantasy',
  length: 'short',
  word_count: 7,
  revision: 1,
  content: 'Every night the clock ran back an hour.',
  settings: {},
  backend_type: 'lmstudio',
  model: 'mistral-7b',
  created_at: '2026-11-27T20:00:00Z',
  updated_at: '2026-11-27T20:00:00Z',
  generation_status: null,
  active_generation: null,
  last_generation: null,
};
const SAVED_SUMMARY: StorySummary = { ...SAVED_STORY, excerpt: SAVED_STORY.content };

function storyServer(routes: Parameters<typeof fakeServer>[0] = {}) {
  return fakeServer({
    'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
    'GET /api/stories': () => json({ stories: [] }),
    ...routes,
  });
}

async function startStory(user: ReturnType<typeof userEvent.setup>) {
  await user.type(screen.getByLabelText('Premise'), PREMISE);
  await user.click(screen.getByRole('button', { name: 'Generate story' }));
}

describe('StoryPage generation', () => {
  it('streams the story into the page and names the backend and model that wrote it', async () => {
    const stream = controlledStream();
    const server = storyServer({ 'POST /proxy/llm/v1/chat/completions': () => sseResponse(stream.stream, ORIGIN_HEADERS) });
    const user = userEvent.setup();
    renderPage(<StoryPage />);

    await user.selectOptions(screen.getByLabelText('Genre'), 'Mystery');
    await user.selectOptions(screen.getByLabelText('Length'), 'Long');
    await startStory(user);
    stream.push(chunkEvent('The Letter\n\nShe found'));

    await waitFor(() => expect(screen.getByTestId('story-output')).toHaveTextContent('The Letter She found'));
    expect(screen.getByTestId('story-origin')).toHaveTextContent('Writing with Ollama · llama2:7b…');
    expect(screen.getByRole('button', { name: 'Stop' })).toBeInTheDocument();

    stream.push(chunkEvent(' it under the lamp.') + 'data: [DONE]\n\n');
    await screen.findByRole('button', { name: 'Save to library' });
    expect(screen.getByTestId('story-output')).toHaveTextContent('The Letter She found it under the lamp.');
    expect(screen.getByTestId('story-origin')).toHaveTextContent('Written by Ollama · llama2:7b');

    const sent = server.sent('POST', '/proxy/llm/v1/chat/completions')[0].body as ChatCompletionRequest;
    expect(sent).toMatchObject({ stream: true, max_tokens: 1800 });
    expect(sent.messages[0].role).toBe('system');
    expect(sent.messages[1].content).toContain('Genre: Mystery');
    expect(sent.messages[1].content).toContain(PREMISE);
  });

  it('falls back to the saved backend and model when the proxy headers are not visible', async () => {
    storyServer({ 'POST /proxy/llm/v1/chat/completions': () => sseResponse(chunkEvent('Once.') + 'data: [DONE]\n\n') });
    const user = userEvent.setup();
    renderPage(<StoryPage />);
    await screen.findByTestId('story-library');

    await startStory(user);

    await screen.findByRole('button', { name: 'Save to library' });
    expect(screen.getByTestId('story-origin')).toHaveTextContent('Written by Ollama · llama2');
  });

  it('Stop ends the generation and keeps the text written so far', async () => {
    const stream = controlledStream();
    storyServer({ 'POST /proxy/llm/v1/chat/completions': () => sseResponse(stream.stream, ORIGIN_HEADERS) });
    const user = userEvent.setup();
    renderPage(<StoryPage />);

    await startStory(user);
    stream.push(chunkEvent('The tide came in'));
    await waitFor(() => expect(screen.getByTestId('story-output')).toHaveTextContent('The tide came in'));
    await user.click(screen.getByRole('button', { name: 'Stop' }));

    expect(await screen.findByText('Stopped. The text so far is kept.')).toBeInTheDocument();
    expect(screen.getByTestId('story-output')).toHaveTextContent('The tide came in');
    expect(screen.getByRole('button', { name: 'Generate story' })).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Save to library' })).toBeInTheDocument();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  it('keeps the text and explains a failure in the middle of the story, with a link to Settings', async () => {
    const failure = { error: { message: 'Ollama stopped answering for 60 s.', type: 'timeout', code: 'backend_timeout', param: null } };
    storyServer({
      'POST /proxy/llm/v1/chat/completions': () =>
        sseResponse(chunkEvent('It began') + `data: ${JSON.stringify(failure)}\n\ndata: [DONE]\n\n`),
    });
    const user = userEvent.setup();
    renderPage(<StoryPage />);

    await startStory(user);

    const error = await screen.findByTestId('story-error');
    expect(error).toHaveTextContent('The story could not be written: Ollama stopped answering for 60 s.');
    expect(error).toHaveTextContent('raise the first-token timeout in Settings');
    expect(within(error).getByRole('link', { name: 'Open Settings' })).toHaveAttribute('href', '/settings');
    expect(screen.getByTestId('story-output')).toHaveTextContent('It began');
  });

  it('sends the user to Settings when the proxy says no backend is configured', async () => {
    storyServer({
      'POST /proxy/llm/v1/chat/completions': () =>
        json({ error: { message: 'No LLM backend is configured.', type: 'invalid_request_error', code: 'backend_not_configured', param: null } }, 400),
    });
    const user = userEvent.setup();
    renderPage(<StoryPage />);

    await startStory(user);

    const notice = await screen.findByTestId('backend-missing');
    expect(notice).toHaveTextContent('No LLM backend is set up yet.');
    expect(within(notice).getByRole('link', { name: 'Settings' })).toHaveAttribute('href', '/settings');
  });

  it('says no backend is set up, and does not offer to generate, when nothing is saved', async () => {
    storyServer({ 'GET /api/settings/llm': () => json(NOTHING_SAVED) });
    const user = userEvent.setup();
    renderPage(<StoryPage />);

    expect(await screen.findByTestId('backend-missing')).toHaveTextContent('Choose LM Studio, Ollama or ChatGPT in Settings');
    await user.type(screen.getByLabelText('Premise'), PREMISE);
    expect(screen.getByRole('button', { name: 'Generate story' })).toBeDisabled();
  });
});

describe('StoryPage library', () => {
  it('saves the finished story with its first line as title and lists it', async () => {
    let stories: StorySummary[] = [];
    const server = storyServer({
      'POST /proxy/llm/v1/chat/completions': () =>
        sseResponse(chunkEvent('# The Letter\n\nShe read it twice.') + 'data: [DONE]\n\n', ORIGIN_HEADERS),
      'GET /api/stories': () => json({ stories }),
      'POST /api/stories': (request) => {
        const story = { ...SAVED_STORY, ...(request.body as object), id: 8 };
        stories = [{ ...story, excerpt: story.content }];
        return json(story, 201);
      },
    });
    const user = userEvent.setup();
    renderPage(<StoryPage />);
    expect(await screen.findByText(/No saved stories yet/)).toBeInTheDocument();

    await startStory(user);
    await user.click(await screen.findByRole('button', { name: 'Save to library' }));

    expect(await screen.findByTestId('story-save-result')).toHaveTextContent('Saved to your library as “The Letter”.');
    expect(server.sent('POST', '/api/stories')[0].body).toEqual({
      title: 'The Letter',
      prompt: PREMISE,
      content: '# The Letter\n\nShe read it twice.',
      backend_type: 'ollama',
      model: 'llama2:7b',
    });
    expect(screen.getByRole('button', { name: 'Saved' })).toBeDisabled();
    const item = await screen.findByTestId('library-item');
    expect(item).toHaveTextContent('The Letter');
  });

  it('opens a saved story to read it in full', async () => {
    storyServer({
      'GET /api/stories': () => json({ stories: [SAVED_SUMMARY] }),
      'GET /api/stories/7': () => json(SAVED_STORY),
    });
    const user = userEvent.setup();
    renderPage(<StoryPage />);

    await user.click(await screen.findByRole('button', { name: 'Open “The Clockmaker”' }));

    const reader = await screen.findByTestId('story-reader');
    await waitFor(() => expect(reader).toHaveTextContent('Every night the clock ran back an hour.'));
    expect(reader).toHaveTextContent('LM Studio · mistral-7b');
    await user.click(within(reader).getByRole('button', { name: 'Close' }));
    expect(screen.queryByTestId('story-reader')).not.toBeInTheDocument();
  });

  it('deletes a story only after the user confirms', async () => {
    let stories = [SAVED_SUMMARY];
    const server = storyServer({
      'GET /api/stories': () => json({ stories }),
      'DELETE /api/stories/7': () => {
        stories = [];
        return new Response(null, { status: 204 });
      },
    });
    const confirm = vi.spyOn(window, 'confirm').mockReturnValueOnce(false).mockReturnValueOnce(true);
    const user = userEvent.setup();
    renderPage(<StoryPage />);
    const deleteButton = await screen.findByRole('button', { name: 'Delete “The Clockmaker”' });

    await user.click(deleteButton);
    expect(confirm).toHaveBeenCalledWith('Delete “The Clockmaker”? This cannot be undone.');
    expect(server.sent('DELETE', '/api/stories/7')).toHaveLength(0);

    await user.click(deleteButton);
    await waitFor(() => expect(screen.queryByTestId('library-item')).not.toBeInTheDocument());
    expect(server.sent('DELETE', '/api/stories/7')).toHaveLength(1);
    expect(screen.getByText(/No saved stories yet/)).toBeInTheDocument();
  });

  it('explains a failed delete', async () => {
    storyServer({
      'GET /api/stories': () => json({ stories: [SAVED_SUMMARY] }),
      'DELETE /api/stories/7': () => apiError(404, 'not_found', 'That story no longer exists.'),
    });
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    const user = userEvent.setup();
    renderPage(<StoryPage />);

    await user.click(await screen.findByRole('button', { name: 'Delete “The Clockmaker”' }));

    expect(await screen.findByRole('alert')).toHaveTextContent('Could not delete the story: That story no longer exists.');
  });
});
