import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useLocation } from 'react-router-dom';
import { describe, expect, it, vi } from 'vitest';
import { storyText } from '../test/editor';
import { BACKENDS, CONNECTED_STATUS, OLLAMA_ACTIVE } from '../test/fixtures';
import { renderPage } from '../test/render';
import { fakeServer, json, apiError } from '../test/server';
import { STORY } from '../test/stories';
import type { Story } from '../types/api';
import { AppShell } from './AppShell';

const PREMISE = 'A lighthouse keeper finds a letter from the future.';
const OLDER: Story = { ...STORY, id: 5, title: 'The Lighthouse', premise: PREMISE, word_count: 900, updated_at: '2026-11-20T10:00:00Z' };

type Routes = Parameters<typeof fakeServer>[0];

/** The server of a library with two stories (7, the newest, and 5). */
function libraryBackend(routes: Routes = {}) {
  return fakeServer({
    'GET /api/settings/llm': () => json(OLLAMA_ACTIVE),
    'GET /api/settings/llm/backends': () => json(BACKENDS),
    'GET /api/settings/llm/status': () => json(CONNECTED_STATUS),
    'GET /api/stories': () => json({ stories: [STORY, OLDER] }),
    'GET /api/stories/7': () => json(STORY),
    'GET /api/stories/5': () => json({ ...OLDER, content: 'The lamp went out.' }),
    'GET /api/stories/7/revisions': () => json({ revisions: [] }),
    'GET /api/stories/5/revisions': () => json({ revisions: [] }),
    'GET /api/stories/7/context': () => apiError(404, 'not_found', 'No context here.'),
    'GET /api/stories/5/context': () => apiError(404, 'not_found', 'No context here.'),
    ...routes,
  });
}

function Location() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname}</output>;
}

/** The app's header and pages for the one user of a personal install, at `route`. */
function openApp(route: string) {
  return renderPage(
    <>
      <AppShell multiUser={false} owner="local" />
      <Location />
    </>,
    { route },
  );
}

const location = () => screen.getByTestId('location').textContent;

describe('Coming back to the story', () => {
  it('the Story link opens the story last open, and New story starts an empty one', async () => {
    libraryBackend();
    const user = userEvent.setup();
    openApp('/story/7');
    await screen.findByLabelText('Story text');
    await user.click(screen.getByRole('link', { name: 'Library' }));
    expect(await screen.findAllByTestId('library-item')).toHaveLength(2);

    await user.click(screen.getByRole('link', { name: 'Story' }));
    expect(location()).toBe('/story/7');
    await screen.findByLabelText('Story text');
    expect(storyText()).toBe(STORY.content);

    await user.click(screen.getByRole('link', { name: 'New story' }));
    expect(location()).toBe('/');
    expect(await screen.findByLabelText('Premise')).toHaveValue('');
    expect(storyText()).toBe('');
  });

  it('opening the app at its bare address comes back to the story last open', async () => {
    libraryBackend();
    const first = openApp('/story/5');
    await screen.findByLabelText('Story text');
    first.unmount();

    openApp('/');
    await waitFor(() => expect(location()).toBe('/story/5'));
    await waitFor(() => expect(storyText()).toBe('The lamp went out.'));
  });

  it('the library marks the open story', async () => {
    libraryBackend();
    const user = userEvent.setup();
    openApp('/story/5');
    await screen.findByLabelText('Story text');
    await user.click(screen.getByRole('link', { name: 'Library' }));
    const [newest, open] = await screen.findAllByTestId('library-item');
    expect(open).toHaveAttribute('aria-current', 'true');
    expect(open).toHaveTextContent('Open now');
    expect(newest).not.toHaveAttribute('aria-current');
    expect(newest).not.toHaveTextContent('Open now');
  });
});

describe('The library', () => {
  it('lists the stories as the server orders them (most recent first) and opens one by its URL', async () => {
    libraryBackend();
    const user = userEvent.setup();
    openApp('/library');
    const items = await screen.findAllByTestId('library-item');
    expect(items.map((item) => within(item).getByRole('heading').textContent)).toEqual(['The Clockmaker', 'The Lighthouse']);
    expect(items[1]).toHaveTextContent('900 words');
    await user.click(within(items[1]).getByRole('link', { name: 'Open “The Lighthouse”' }));
    expect(location()).toBe('/story/5');
    await waitFor(() => expect(storyText()).toBe('The lamp went out.'));
    expect(document.title).toBe('The Lighthouse — Taleweaver');
  });

  it('deletes a story only after the user confirms, and the Story link no longer opens it', async () => {
    let stories = [STORY];
    const server = libraryBackend({
      'GET /api/stories': () => json({ stories }),
      'DELETE /api/stories/7': () => {
        stories = [];
        return new Response(null, { status: 204 });
      },
    });
    const confirm = vi.spyOn(window, 'confirm').mockReturnValueOnce(false).mockReturnValueOnce(true);
    const user = userEvent.setup();
    openApp('/story/7');
    await screen.findByLabelText('Story text');
    await user.click(screen.getByRole('link', { name: 'Library' }));
    const deleteButton = await screen.findByRole('button', { name: 'Delete “The Clockmaker”' });

    await user.click(deleteButton);
    expect(confirm).toHaveBeenCalledWith('Delete “The Clockmaker”? This cannot be undone.');
    expect(server.sent('DELETE', '/api/stories/7')).toHaveLength(0);

    await user.click(deleteButton);
    await waitFor(() => expect(screen.queryByTestId('library-item')).not.toBeInTheDocument());
    await user.click(screen.getByRole('link', { name: 'Story' }));
    await waitFor(() => expect(location()).toBe('/'));
    expect(screen.getByLabelText('Premise')).toHaveValue('');
    expect(server.sent('PATCH', '/api/stories/7')).toEqual([]);
  });

  it('explains a failed delete', async () => {
    libraryBackend({ 'DELETE /api/stories/7': () => apiError(404, 'not_found', 'That story no longer exists.') });
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    const user = userEvent.setup();
    openApp('/library');
    await user.click(await screen.findByRole('button', { name: 'Delete “The Clockmaker”' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not delete the story: That story no longer exists.');
  });

  it('searches titles, premises and text, and sorts', async () => {
    const server = libraryBackend();
    const user = userEvent.setup();
    openApp('/library');
    await user.type(await screen.findByTestId('library-search'), 'clock');
    await waitFor(() => expect(server.sent('GET', '/api/stories').some((r) => r.query.get('q') === 'clock')).toBe(true));
    await user.selectOptions(screen.getByTestId('library-sort'), 'title');
    await waitFor(() => expect(server.sent('GET', '/api/stories').some((r) => r.query.get('sort') === 'title')).toBe(true));
  });

  it('imports a backup as new stories and says how many', async () => {
    const server = libraryBackend({
      'POST /api/stories/import': () => json({ imported: 2, stories: [{ id: 8, title: 'A' }, { id: 9, title: 'B' }] }, 201),
    });
    const user = userEvent.setup();
    openApp('/library');
    const backup = { format: 'taleweaver-library', version: 1, stories: [{ title: 'A' }, { title: 'B' }] };
    await user.upload(await screen.findByTestId('library-import-file'), new File([JSON.stringify(backup)], 'backup.json', { type: 'application/json' }));
    expect(await screen.findByTestId('library-note')).toHaveTextContent('Imported 2 stories as new stories.');
    expect(server.sent('POST', '/api/stories/import')[0].body).toEqual(backup);
  });
});
