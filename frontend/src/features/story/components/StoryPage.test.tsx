import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useLocation } from 'react-router-dom';
import { describe, expect, it, vi } from 'vitest';
import { BACKENDS, NOTHING_SAVED, OLLAMA_ACTIVE } from '../../../test/fixtures';
import { storyBox, storyText, typeAtEnd } from '../../../test/editor';
import { renderPage } from '../../../test/render';
import { apiError, controlledStream, fakeServer, json, sseResponse } from '../../../test/server';
import type { Story, UpdateStoryRequest } from '../../../types/api';
import type { StoryGenerationRequest } from '../api/types';
import { endEvents, generation, reasoningEvent, STORY, textEvent } from '../../../test/stories';
import { StoryPage } from './StoryPage';

const PREMISE = 'A lighthouse keeper finds a letter from the future.';
const SAVE_TIMEOUT = { timeout: 4000 };

type Routes = Parameters<typeof fakeServer>[0];

/** The server side of the Story page: one story (7) that PATCH saves change, with revisions counted. */
function storyBackend(routes: Routes = {}, initial: Story = STORY) {
  let story: Story = { ...initial };
  const server = fakeServer({
    'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
    'GET /api/settings/llm/backends': () => json(BACKENDS),
    'GET /api/stories': () => json({ stories: [story] }),
    'GET /api/stories/7': () => json(story),
    'PATCH /api/stories/7': (request) => {
      const { base_revision: base, ...changes } = request.body as UpdateStoryRequest;
      if (base !== story.revision) {
        return json({ error: { code: 'revision_conflict', message: 'Saved elsewhere.', current_revision: story.revision } }, 409);
      }
      story = { ...story, ...(changes as Partial<Story>), revision: story.revision + 1 };
      return json(story);
    },
    'GET /api/stories/7/revisions': () => json({ revisions: [] }),
    ...routes,
  });
  return {
    ...server,
    story: () => story,
    set: (changes: Partial<Story>) => (story = { ...story, ...changes }),
    patches: () => server.sent('PATCH', '/api/stories/7').map((request) => request.body as UpdateStoryRequest),
  };
}

function Location() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname}</output>;
}

function openStory(route = '/story/7') {
  return renderPage(
    <>
      <StoryPage owner="local" />
      <Location />
    </>,
    { route },
  );
}


/** The keepalive flag of the app's fetch calls with this method. */
function keepaliveOf(method: string): (boolean | undefined)[] {
  return vi
    .mocked(fetch)
    .mock.calls.filter(([, init]) => init?.method === method)
    .map(([, init]) => init?.keepalive);
}

describe('StoryPage: a story is a document on the server', () => {
  it('creates the story at the first words of the premise, names it in the URL and autosaves what follows', async () => {
    const server = storyBackend({
      'GET /api/stories': () => json({ stories: [] }),
      'POST /api/stories': (request) => json(server.set({ ...(request.body as object), revision: 1 }), 201),
    });
    const user = userEvent.setup();
    openStory('/');
    expect(await screen.findByTestId('save-status')).toHaveTextContent('Saved as soon as you start writing');

    await user.type(screen.getByLabelText('Premise'), 'A');
    await waitFor(() => expect(screen.getByTestId('location')).toHaveTextContent('/story/7'));
    expect(server.sent('POST', '/api/stories')[0].body).toEqual({
      title: 'A',
      premise: 'A',
      genre: 'fantasy',
      length: 'medium',
      content: '',
      memory: '',
      authors_note: '',
      settings: {},
      auto_title: true, // the server keeps an automatic title unique
    });

    await user.type(screen.getByLabelText('Premise'), ' lighthouse');
    await waitFor(() => expect(server.story().premise).toBe('A lighthouse'), SAVE_TIMEOUT);
    expect(server.sent('POST', '/api/stories')).toHaveLength(1);
    expect(server.story().title).toBe('A lighthouse'); // named after the premise until the user names it
    expect(screen.getByTestId('save-status')).toHaveTextContent('Saved');
    expect(document.title).toBe('A lighthouse — Taleweaver');
  });

  it('shows "Saving..." while an edit is on its way and "Saved" only once the server has it', async () => {
    let answer!: () => void;
    const user = userEvent.setup();
    const held = storyBackend({
      'PATCH /api/stories/7': (request) =>
        new Promise((resolve) => {
          answer = () => resolve(json({ ...STORY, ...(request.body as object), revision: 4 }));
        }),
    });
    openStory();
    await screen.findByLabelText('Story text');
    await typeAtEnd(user, ' Tick.');
    expect(screen.getByTestId('save-status')).toHaveTextContent('Saving...');
    await waitFor(() => expect(held.patches()).toHaveLength(1), SAVE_TIMEOUT);
    expect(screen.getByTestId('save-status')).toHaveTextContent('Saving...');
    act(() => answer());
    await waitFor(() => expect(screen.getByTestId('save-status')).toHaveTextContent(/^Saved$/));
    expect(held.patches()[0]).toEqual({ base_revision: 3, content: `${STORY.content} Tick.`, marks: [] });
  });

  it('saves at once, with keepalive, when the page is hidden or closed', async () => {
    const server = storyBackend();
    const user = userEvent.setup();
    openStory();
    await screen.findByLabelText('Story text');
    await typeAtEnd(user, ' The end.');
    expect(server.patches()).toHaveLength(0);

    fireEvent(window, new Event('pagehide'));
    await waitFor(() => expect(server.patches()).toHaveLength(1));
    expect(server.patches()[0]).toEqual({ base_revision: 3, content: `${STORY.content} The end.`, marks: [] });
    expect(keepaliveOf('PATCH')).toEqual([true]);
  });

  it('warns before closing only while something is really unsaved', async () => {
    storyBackend();
    const user = userEvent.setup();
    openStory();
    await screen.findByLabelText('Story text');
    const closing = () => {
      const event = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(event);
      return event.defaultPrevented;
    };
    expect(closing()).toBe(false);
    await typeAtEnd(user, '!');
    expect(closing()).toBe(true);
    await waitFor(() => expect(screen.getByTestId('save-status')).toHaveTextContent(/^Saved$/), SAVE_TIMEOUT);
    expect(closing()).toBe(false);
  });

  it('a story that failed to load is never saved over', async () => {
    let fail = true;
    const server = storyBackend({
      'GET /api/stories/7': () => (fail ? apiError(500, 'internal_error', 'The database is locked.') : json(STORY)),
    });
    const user = userEvent.setup();
    openStory();
    const error = await screen.findByTestId('story-load-error');
    expect(error).toHaveTextContent('Could not open the story: The database is locked.');
    expect(screen.queryByLabelText('Story text')).not.toBeInTheDocument();
    fireEvent(window, new Event('pagehide'));
    expect(server.requests.filter((request) => request.method !== 'GET')).toEqual([]);

    fail = false;
    await user.click(within(error).getByRole('button', { name: 'Try again' }));
    await screen.findByLabelText('Story text');
    expect(storyText()).toBe(STORY.content);
    expect(server.requests.filter((request) => request.method !== 'GET')).toEqual([]);
  });

  it('says why a save failed and saves again on Retry', async () => {
    let refuse = true;
    const server = storyBackend({
      'PATCH /api/stories/7': (request) =>
        refuse
          ? apiError(400, 'validation_error', 'A title cannot be longer than 200 characters.')
          : json({ ...STORY, ...(request.body as object), revision: 4 }),
    });
    const user = userEvent.setup();
    openStory();
    await user.type(await screen.findByLabelText('Title'), '!');
    const status = screen.getByTestId('save-status');
    await waitFor(() => expect(status).toHaveTextContent('Not saved: A title cannot be longer than 200 characters.'), SAVE_TIMEOUT);
    expect(screen.getByLabelText('Title')).toHaveValue('The Clockmaker!');
    refuse = false;
    await user.click(within(status).getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(status).toHaveTextContent(/^Saved$/));
    expect(server.sent('PATCH', '/api/stories/7')).toHaveLength(2);
  });

  it('says what to do when the server cannot store the story (a full disk), and keeps the text', async () => {
    let full = true;
    const server = storyBackend({
      'PATCH /api/stories/7': (request) =>
        full
          ? apiError(503, 'database_full', 'The disk that holds the SQLite database /data/taleweaver.db is full; nothing was saved.', {
              hint: 'Free some space on that disk, then try again: what you typed is still on the page.',
            })
          : json({ ...STORY, ...(request.body as object), revision: 4 }),
    });
    const user = userEvent.setup();
    openStory();
    await user.type(await screen.findByLabelText('Title'), '!');
    const status = screen.getByTestId('save-status');
    await waitFor(
      () =>
        expect(status).toHaveTextContent(
          'Not saved: The disk that holds the SQLite database /data/taleweaver.db is full; nothing was saved. Free some space on that disk, then try again',
        ),
      SAVE_TIMEOUT,
    );
    expect(screen.getByLabelText('Title')).toHaveValue('The Clockmaker!');
    full = false;
    await user.click(within(status).getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(status).toHaveTextContent(/^Saved$/));
    expect(server.patches().at(-1)).toMatchObject({ title: 'The Clockmaker!' });
  });
});

describe('StoryPage: another tab saved first (409)', () => {
  async function conflict(routes: Routes = {}) {
    const server = storyBackend(routes);
    const user = userEvent.setup();
    openStory();
    await screen.findByLabelText('Story text');
    server.set({ content: 'Their ending.', revision: 4 }); // another tab's save
    await typeAtEnd(user, ' My ending.');
    const notice = await screen.findByTestId('conflict-notice', {}, SAVE_TIMEOUT);
    return { server, user, notice };
  }

  it('overwrites nothing and offers "Reload theirs" and "Keep both"', async () => {
    const { server, notice } = await conflict();
    expect(notice).toHaveTextContent('This story was changed in another tab or window');
    expect(screen.getByTestId('save-status')).toHaveTextContent('Not saved: this story was changed in another tab or window');
    expect(server.story().content).toBe('Their ending.');
    expect(storyText()).toBe(`${STORY.content} My ending.`);
    expect(within(notice).getByRole('button', { name: 'Reload theirs' })).toBeEnabled();
    expect(within(notice).getByRole('button', { name: 'Keep both' })).toBeEnabled();
  });

  it('Keep both saves this version as “<title> (copy)” and shows theirs', async () => {
    const { server, user, notice } = await conflict({
      'POST /api/stories': (request) => json({ ...STORY, ...(request.body as object), id: 8, revision: 1 }, 201),
    });
    await user.click(within(notice).getByRole('button', { name: 'Keep both' }));
    await waitFor(() => expect(storyText()).toBe('Their ending.'));
    expect(server.sent('POST', '/api/stories')[0].body).toMatchObject({
      title: 'The Clockmaker (copy)',
      content: `${STORY.content} My ending.`,
      premise: STORY.premise,
    });
    expect(screen.queryByTestId('conflict-notice')).not.toBeInTheDocument();
    expect(screen.getByTestId('save-status')).toHaveTextContent(/^Saved$/);
  });

  it('Reload theirs shows their version and keeps this one at hand to save as a new story', async () => {
    const { server, user, notice } = await conflict({
      'POST /api/stories': (request) => json({ ...STORY, ...(request.body as object), id: 8, revision: 1 }, 201),
    });
    await user.click(within(notice).getByRole('button', { name: 'Reload theirs' }));
    await waitFor(() => expect(storyText()).toBe('Their ending.'));
    const setAside = screen.getByTestId('set-aside-notice');
    expect(setAside).toHaveTextContent(`${STORY.content} My ending.`);
    await user.click(within(setAside).getByRole('button', { name: 'Save mine as a new story' }));
    expect(await within(setAside).findByRole('link', { name: '“The Clockmaker (copy)”' })).toHaveAttribute('href', '/story/8');
    expect(server.sent('POST', '/api/stories')[0].body).toMatchObject({ content: `${STORY.content} My ending.` });
    expect(server.patches()).toHaveLength(1); // the refused one: nothing was written over theirs
  });
});

describe('StoryPage: generations run on the server', () => {
  it('Generate runs a job of this story and shows its text as it arrives; the text cannot be edited meanwhile', async () => {
    const stream = controlledStream();
    const server = storyBackend({
      'POST /proxy/llm/v1/chat/completions': () =>
        sseResponse(stream.stream, { 'X-Taleweaver-Generation': '41', 'X-Taleweaver-Backend': 'ollama', 'X-Taleweaver-Model': 'llama2:7b' }),
    });
    server.set({ content: '' });
    const user = userEvent.setup();
    openStory();
    await user.selectOptions(await screen.findByLabelText('Length'), 'Long');
    await user.click(screen.getByRole('button', { name: 'Generate story' }));

    stream.push(textEvent('The Letter\n\nShe found', 21));
    await waitFor(() => expect(storyText()).toBe('The Letter\n\nShe found'));
    expect(storyBox()).toHaveAttribute('aria-readonly', 'true');
    expect(screen.getByTestId('story-origin')).toHaveTextContent('Writing with Ollama · llama2:7b…');
    const sent = server.sent('POST', '/proxy/llm/v1/chat/completions')[0].body as StoryGenerationRequest;
    // The server writes the prompt (premise, genre, memory, the text within the context); the page sends the controls.
    expect(sent).toMatchObject({ stream: true, max_tokens: 1800, taleweaver: { story_id: 7, action: 'continue' } });
    expect(sent.messages).toBeUndefined();
    expect(server.patches()[0]).toMatchObject({ base_revision: 3, length: 'long', settings: { max_tokens: 1800 } }); // saved before the job started

    // The premise still saves while the job writes (the text is the job's).
    await user.type(screen.getByLabelText('Premise'), '!');
    await waitFor(() => expect(server.patches()).toHaveLength(2), SAVE_TIMEOUT);
    expect(server.patches()[1]).toEqual({ base_revision: 4, premise: `${STORY.premise}!` });

    server.set({ content: 'The Letter\n\nShe found it.', revision: 6 }); // the job's text, a new revision
    stream.push(textEvent(' it.', 25) + endEvents('finished', 25));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Generate story' })).toBeInTheDocument());
    expect(storyText()).toBe('The Letter\n\nShe found it.');
    expect(storyBox()).not.toHaveAttribute('aria-readonly', 'true');
    expect(screen.getByTestId('story-origin')).toHaveTextContent('written by Ollama · llama2:7b');

    await typeAtEnd(user, ' Then');
    await waitFor(() => expect(server.story().content).toBe('The Letter\n\nShe found it. Then'), SAVE_TIMEOUT);
    expect(server.patches().at(-1)?.base_revision).toBe(6);
  });

  it('re-attaches on load from the offset of the text shown, reconnects after a drop from the last offset, and doubles nothing', async () => {
    const shown = '🐉 The dragon woke';
    const first = controlledStream();
    const second = controlledStream();
    const follows: string[] = [];
    const server = storyBackend(
      {
        'GET /proxy/llm/v1/generations/41/events': (request) => {
          follows.push(request.query.get('after') ?? '');
          return sseResponse(follows.length === 1 ? first.stream : second.stream);
        },
      },
      { ...STORY, content: shown, active_generation: generation({ text_length: 17 }) },
    );
    openStory();
    await waitFor(() => expect(follows).toEqual(['17']));
    expect(storyText()).toBe(shown);
    expect(storyBox()).toHaveAttribute('aria-readonly', 'true');
    expect(screen.getByTestId('story-origin')).toHaveTextContent('Writing with Ollama · llama2:7b…');

    first.push(textEvent(' up and', 24));
    await waitFor(() => expect(storyText()).toBe('🐉 The dragon woke up and'));
    act(() => first.close()); // the network drops

    await waitFor(() => expect(follows).toEqual(['17', '24']), SAVE_TIMEOUT);
    second.push(textEvent('and yawned.', 35)); // an overlapping replay must not double "and"
    server.set({ content: '🐉 The dragon woke up and yawned.', revision: 4 });
    second.push(endEvents('finished', 35));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Generate story' })).toBeInTheDocument());
    expect(storyText()).toBe('🐉 The dragon woke up and yawned.');
  });

  it('Stop calls the server’s stop and keeps the text', async () => {
    const stream = controlledStream();
    const server = storyBackend(
      {
        'GET /proxy/llm/v1/generations/41/events': () => sseResponse(stream.stream),
        'POST /proxy/llm/v1/generations/41/stop': () => {
          server.set({ content: 'The tide came tide', revision: 4 });
          stream.push(textEvent(' tide', 18) + endEvents('stopped', 18));
          return json(generation({ status: 'stopped', text_length: 14 }));
        },
      },
      { ...STORY, content: 'The tide came', active_generation: generation({ text_length: 13 }) },
    );
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByRole('button', { name: 'Stop' }));

    expect(await screen.findByText('Stopped. The text so far is kept.')).toBeInTheDocument();
    expect(server.sent('POST', '/proxy/llm/v1/generations/41/stop')).toHaveLength(1);
    expect(storyText()).toBe('The tide came tide');
    expect(screen.getByRole('button', { name: 'Generate story' })).toBeEnabled();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  it('a generation interrupted by a server crash keeps its text and says what to do next', async () => {
    const server = storyBackend(
      {
        'GET /proxy/llm/v1/generations/41/events': () => {
          server.set({ content: 'It was dark and', revision: 4 });
          return sseResponse(textEvent(' and', 15) + endEvents('interrupted', 15));
        },
      },
      { ...STORY, content: 'It was dark', active_generation: generation({ text_length: 11 }) },
    );
    openStory();
    const notice = await screen.findByTestId('story-interrupted');
    expect(notice).toHaveTextContent('The server stopped while this story was being written. The text written up to that moment is kept.');
    expect(notice).toHaveTextContent('press Continue to go on from where it broke off');
    expect(storyText()).toBe('It was dark and');
  });

  it('says so when the story opens after an interrupted generation', async () => {
    storyBackend({}, { ...STORY, last_generation: generation({ status: 'interrupted', text_length: 39 }) });
    openStory();
    expect(await screen.findByTestId('story-interrupted')).toBeInTheDocument();
    expect(storyText()).toBe(STORY.content);
  });

  it('a backend failure mid-stream keeps the text and tells what to do', async () => {
    const failure = { message: 'Ollama stopped answering for 60 s.', type: 'timeout', code: 'backend_timeout' };
    const server = storyBackend({
      'POST /proxy/llm/v1/chat/completions': () => {
        server.set({ content: 'It began' });
        return sseResponse(textEvent('It began', 8) + endEvents('failed', 8, failure), { 'X-Taleweaver-Generation': '41' });
      },
    });
    server.set({ content: '' });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByRole('button', { name: 'Generate story' }));

    const error = await screen.findByTestId('story-error');
    expect(error).toHaveTextContent('The story could not be written: Ollama stopped answering for 60 s.');
    expect(error).toHaveTextContent('The text written before the failure is kept.');
    expect(error).toHaveTextContent('raise the first-token timeout in Settings');
    expect(within(error).getByRole('link', { name: 'Open Settings' })).toHaveAttribute('href', '/settings');
    expect(storyText()).toBe('It began');
  });

  it('keeps the model’s reasoning out of the story, in a collapsed “Thinking...” section', async () => {
    const server = storyBackend({
      'POST /proxy/llm/v1/chat/completions': () => {
        server.set({ content: 'Dear keeper,' });
        return sseResponse(reasoningEvent('The user wants a letter.', 0) + textEvent('Dear keeper,', 12) + endEvents('finished', 12), {
          'X-Taleweaver-Generation': '41',
        });
      },
    });
    server.set({ content: '' });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByRole('button', { name: 'Generate story' }));

    const thinking = await screen.findByTestId('story-thinking');
    expect(thinking).toHaveTextContent('The user wants a letter.');
    expect(thinking).not.toHaveAttribute('open');
    await waitFor(() => expect(storyText()).toBe('Dear keeper,'));
  });

  it('generating again writes a new story over a cleared text, the old one kept as a revision', async () => {
    const server = storyBackend({
      'POST /proxy/llm/v1/chat/completions': () => sseResponse(textEvent('New.', 4) + endEvents('finished', 4), { 'X-Taleweaver-Generation': '41' }),
    });
    const user = userEvent.setup();
    openStory();
    expect(await screen.findByText('Generating writes a new story; this text stays in Revisions.')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Generate story' }));
    await waitFor(() => expect(server.sent('POST', '/proxy/llm/v1/chat/completions')).toHaveLength(1));
    expect(server.patches()).toEqual([{ base_revision: 3, content: '' }]);
  });

  it('sends the user to Settings when the proxy says no backend is configured', async () => {
    const server = storyBackend({
      'POST /proxy/llm/v1/chat/completions': () =>
        json({ error: { message: 'No LLM backend is configured.', type: 'invalid_request_error', code: 'backend_not_configured', param: null } }, 400),
    });
    server.set({ content: '' });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByRole('button', { name: 'Generate story' }));
    const notice = await screen.findByTestId('backend-missing');
    expect(within(notice).getByRole('link', { name: 'Settings' })).toHaveAttribute('href', '/settings');
  });

  it('does not offer to generate when no backend is set up', async () => {
    storyBackend({ 'GET /api/settings/llm': () => json(NOTHING_SAVED), 'GET /api/stories': () => json({ stories: [] }) });
    const user = userEvent.setup();
    openStory('/');
    expect(await screen.findByTestId('backend-missing')).toHaveTextContent('Choose LM Studio, Ollama, ChatGPT or OpenAI-compatible server in Settings');
    await user.type(screen.getByLabelText('Premise'), PREMISE.slice(0, 1));
    expect(screen.getByRole('button', { name: 'Generate story' })).toBeDisabled();
  });
});

describe('StoryPage: revisions', () => {
  it('lists the revisions, shows one and restores it', async () => {
    const server = storyBackend({
      'GET /api/stories/7/revisions': () =>
        json({
          revisions: [
            { revision: 3, created_at: '2026-11-27T20:05:00Z', word_count: 7, title: 'The Clockmaker', reason: 'edit' },
            { revision: 2, created_at: '2026-11-27T20:02:00Z', word_count: 4, title: 'The Clockmaker', reason: 'generation' },
          ],
        }),
      'GET /api/stories/7/revisions/2': () =>
        json({ revision: 2, created_at: '2026-11-27T20:02:00Z', word_count: 4, title: 'The Clockmaker', reason: 'generation', content: 'The clock stopped.', premise: STORY.premise }),
      'POST /api/stories/7/revisions/2/restore': () => {
        server.set({ content: 'The clock stopped.', revision: 4 });
        return json(server.story());
      },
    });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByText('Revisions'));
    const items = await screen.findAllByTestId('revision-item');
    expect(items.map((item) => item.textContent)).toEqual([
      expect.stringMatching(/Current.*7 words · edit/),
      expect.stringMatching(/#2.*4 words · generated/),
    ]);
    await user.click(screen.getByRole('button', { name: 'View revision 2' }));
    expect(await screen.findByTestId('revision-text')).toHaveTextContent('The clock stopped.');
    await user.click(screen.getByRole('button', { name: 'Restore this revision' }));

    await waitFor(() => expect(storyText()).toBe('The clock stopped.'));
    expect(server.sent('POST', '/api/stories/7/revisions/2/restore')[0].body).toEqual({ base_revision: 3 });
    expect(screen.queryByTestId('revision-view')).not.toBeInTheDocument();
    expect(screen.getByTestId('save-status')).toHaveTextContent(/^Saved$/);
  });
});

describe('StoryPage: following a generation through trouble', () => {
  it('re-attaches after the server was away (a restart) and after a start whose answer did not name the job', async () => {
    const stream = controlledStream();
    let follows = 0;
    const server = storyBackend({
      // No X-Taleweaver-Generation header: the page finds the job in the story.
      'POST /proxy/llm/v1/chat/completions': () => sseResponse(stream.stream),
      'GET /proxy/llm/v1/generations/41/events': (request) => {
        follows += 1;
        if (follows === 1) throw new TypeError('Failed to fetch'); // the server is restarting
        expect(request.query.get('after')).toBe('5');
        return sseResponse(textEvent(' upon a time.', 18) + endEvents('finished', 18));
      },
    });
    server.set({ content: '' });
    const user = userEvent.setup();
    openStory();
    await user.click(await screen.findByRole('button', { name: 'Generate story' }));
    stream.push(textEvent('Once ', 5));
    await waitFor(() => expect(storyText()).toBe('Once '));
    server.set({ content: 'Once ', active_generation: generation({ text_length: 5 }) });
    act(() => stream.close());

    expect(await screen.findByTestId('story-reconnecting')).toHaveTextContent('reconnecting');
    server.set({ content: 'Once upon a time.', active_generation: null, revision: 5 });
    await waitFor(() => expect(screen.getByRole('button', { name: 'Generate story' })).toBeInTheDocument(), SAVE_TIMEOUT);
    expect(storyText()).toBe('Once upon a time.');
    expect(follows).toBe(2);
  });

  it('saves at once when the tab is hidden', async () => {
    const server = storyBackend();
    const user = userEvent.setup();
    openStory();
    await screen.findByLabelText('Story text');
    await typeAtEnd(user, '!');
    const visibility = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden');
    fireEvent(document, new Event('visibilitychange'));
    await waitFor(() => expect(server.patches()).toHaveLength(1));
    expect(keepaliveOf('PATCH')).toEqual([true]);
    visibility.mockRestore();
  });

  it('a cleared title is named after the premise again, since a story always has one', async () => {
    const server = storyBackend();
    const user = userEvent.setup();
    openStory();
    await user.clear(await screen.findByLabelText('Title'));
    expect(screen.getByLabelText('Title')).toHaveValue(STORY.premise);
    await waitFor(() => expect(server.story().title).toBe(STORY.premise), SAVE_TIMEOUT);
  });
});
