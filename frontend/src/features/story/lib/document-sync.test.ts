import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../../lib/api-client';
import type { Story, UpdateStoryRequest } from '../../../types/api';
import { STORY } from '../../../test/stories';
import { type DocumentApi, DocumentSync, type SyncTiming } from './document-sync';

const TIMING: SyncTiming = { quietMs: 700, maxDelayMs: 2000, retryMs: 5000 };

/** A server holding one story, with a revision counter, that records every save. */
function fakeApi(story: Story = STORY) {
  let current = { ...story };
  const updates: { id: number; changes: UpdateStoryRequest; keepalive: boolean }[] = [];
  const created: Parameters<DocumentApi['create']>[0][] = [];
  const api: DocumentApi = {
    create: vi.fn(async (fields) => {
      created.push(fields);
      return { ...STORY, ...fields, id: 100 + created.length, revision: 1 };
    }),
    update: vi.fn(async (id, changes, { keepalive }) => {
      updates.push({ id, changes, keepalive });
      if (changes.base_revision !== current.revision) {
        throw new ApiError(409, 'revision_conflict', 'The story was saved elsewhere.');
      }
      const fields: Partial<UpdateStoryRequest> = { ...changes };
      delete fields.base_revision;
      current = { ...current, ...(fields as Partial<Story>), revision: current.revision + 1 };
      return current;
    }),
    get: vi.fn(async () => current),
  };
  return {
    api,
    updates,
    created,
    /** Another tab saves. */
    saveElsewhere: (fields: Partial<Story>) => (current = { ...current, ...fields, revision: current.revision + 1 }),
    current: () => current,
  };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('DocumentSync autosave', () => {
  it('waits for a pause in typing, then saves every change in one PATCH over the revision it read', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    sync.edit({ content: 'Every night' });
    await vi.advanceTimersByTimeAsync(300);
    sync.edit({ content: 'Every night the clock', premise: 'A clock' });
    expect(sync.getSnapshot().save.kind).toBe('saving');
    await vi.advanceTimersByTimeAsync(600);
    expect(server.updates).toHaveLength(0);

    await vi.advanceTimersByTimeAsync(200);
    expect(server.updates).toEqual([
      { id: 7, changes: { base_revision: 3, premise: 'A clock', content: 'Every night the clock' }, keepalive: false },
    ]);
    expect(sync.getSnapshot()).toMatchObject({ revision: 4, save: { kind: 'saved' } });
    expect(sync.hasUnsavedChanges()).toBe(false);
  });

  it('never falls more than ~2 s behind while the user keeps typing', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    for (let i = 1; i <= 8; i++) {
      sync.edit({ content: `word ${i}` });
      await vi.advanceTimersByTimeAsync(300); // faster than the pause that would trigger a save
    }
    expect(server.updates.map((update) => update.changes.content)).toEqual(['word 7']);
    expect(server.updates[0].changes.base_revision).toBe(3);
  });

  it('sends a later edit over the revision the previous save returned', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    sync.edit({ title: 'The Clock' });
    await vi.advanceTimersByTimeAsync(800);
    sync.edit({ title: 'The Clockmaker’s Daughter' });
    await vi.advanceTimersByTimeAsync(800);
    expect(server.updates.map((update) => update.changes)).toEqual([
      { base_revision: 3, title: 'The Clock' },
      { base_revision: 4, title: 'The Clockmaker’s Daughter' },
    ]);
    expect(server.current().title).toBe('The Clockmaker’s Daughter');
  });

  it('creates a new story at the first words, without waiting, then saves further edits to it', async () => {
    const server = fakeApi();
    const onCreated = vi.fn();
    const sync = new DocumentSync(server.api, null, onCreated, TIMING);
    expect(sync.getSnapshot().save.kind).toBe('new');
    sync.edit({ premise: 'A', title: 'A' });
    await vi.advanceTimersByTimeAsync(0);
    expect(server.created).toEqual([
      { title: 'A', premise: 'A', genre: 'fantasy', length: 'medium', content: '', memory: '', authors_note: '', settings: {} },
    ]);
    expect(onCreated).toHaveBeenCalledWith(expect.objectContaining({ id: 101 }));

    sync.edit({ premise: 'A dragon', title: 'A dragon' });
    await vi.advanceTimersByTimeAsync(800);
    expect(server.created).toHaveLength(1);
    expect(server.api.update).toHaveBeenCalledWith(101, { base_revision: 1, premise: 'A dragon', title: 'A dragon' }, { keepalive: false });
  });

  it('flush sends the pending changes at once, with keepalive when the page is closing', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    sync.edit({ content: 'Last words before closing' });
    await sync.flush({ keepalive: true });
    expect(server.updates).toEqual([{ id: 7, changes: { base_revision: 3, content: 'Last words before closing' }, keepalive: true }]);
  });

  it('says why a save failed, keeps the text, retries on the Retry button and by itself after a network error', async () => {
    const server = fakeApi();
    const update = vi.mocked(server.api.update);
    const original = update.getMockImplementation()!;
    update.mockRejectedValueOnce(new ApiError(0, 'network_error', 'Cannot reach the Taleweaver server'));
    update.mockRejectedValueOnce(new ApiError(0, 'network_error', 'Cannot reach the Taleweaver server'));
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    sync.edit({ content: 'Precious words' });
    await vi.advanceTimersByTimeAsync(800);
    const save = sync.getSnapshot().save;
    expect(save.kind === 'failed' && save.error.message).toBe('Cannot reach the Taleweaver server');
    expect(sync.getSnapshot().fields.content).toBe('Precious words');
    expect(sync.hasUnsavedChanges()).toBe(true);

    await sync.retry(); // the second failure
    expect(sync.getSnapshot().save.kind).toBe('failed');
    update.mockImplementation(original);
    await vi.advanceTimersByTimeAsync(TIMING.retryMs);
    expect(sync.getSnapshot().save.kind).toBe('saved');
    expect(server.current().content).toBe('Precious words');
  });
});

describe('DocumentSync conflicts', () => {
  it('a save refused with 409 overwrites nothing, stops saving, and offers the choice', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    server.saveElsewhere({ content: 'Their text' });
    sync.edit({ content: 'My text' });
    await vi.advanceTimersByTimeAsync(800);

    const save = sync.getSnapshot().save;
    expect(save.kind).toBe('conflict');
    expect(save.kind === 'conflict' && save.theirs.content).toBe('Their text');
    expect(server.current().content).toBe('Their text');
    sync.edit({ content: 'My text, typed on' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(server.updates).toHaveLength(1);
    expect(sync.hasUnsavedChanges()).toBe(true);
  });

  it('Keep both saves this page’s version as a new story “<title> (copy)” and shows theirs', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    server.saveElsewhere({ content: 'Their text' });
    sync.edit({ content: 'My text' });
    await vi.advanceTimersByTimeAsync(800);

    const copy = await sync.keepBoth();
    expect(server.created).toEqual([{ ...sync.getSnapshot().fields, settings: {}, title: 'The Clockmaker (copy)', content: 'My text' }]);
    expect(copy.title).toBe('The Clockmaker (copy)');
    expect(sync.getSnapshot()).toMatchObject({ revision: 4, fields: { content: 'Their text' }, save: { kind: 'saved' } });
    sync.edit({ content: 'Their text, edited here' });
    await vi.advanceTimersByTimeAsync(800);
    expect(server.current()).toMatchObject({ revision: 5, content: 'Their text, edited here' });
  });

  it('Reload theirs shows the server’s version and hands back this page’s, so it is not lost', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    server.saveElsewhere({ title: 'Renamed elsewhere' });
    sync.edit({ content: 'My text' });
    await vi.advanceTimersByTimeAsync(800);

    const mine = await sync.reloadTheirs();
    expect(mine.content).toBe('My text');
    expect(sync.getSnapshot()).toMatchObject({ revision: 4, fields: { title: 'Renamed elsewhere', content: STORY.content }, save: { kind: 'saved' } });
    await sync.saveAsNewStory(mine);
    expect(server.created[0]).toMatchObject({ title: 'The Clockmaker (copy)', content: 'My text' });
  });

  it('a 409 for a revision that changed nothing this page has (its own generation ended) saves over it', async () => {
    const server = fakeApi();
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    server.saveElsewhere({});
    sync.edit({ premise: 'A clock that runs forwards' });
    await vi.advanceTimersByTimeAsync(800);
    expect(sync.getSnapshot().save.kind).toBe('saved');
    expect(server.current()).toMatchObject({ revision: 5, premise: 'A clock that runs forwards' });
  });

  it('when the version saved elsewhere cannot be read, it says so and writes nothing', async () => {
    const server = fakeApi();
    vi.mocked(server.api.get).mockRejectedValueOnce(new ApiError(0, 'network_error', 'Cannot reach the server'));
    const sync = new DocumentSync(server.api, STORY, undefined, TIMING);
    server.saveElsewhere({ content: 'Their text' });
    sync.edit({ content: 'My text' });
    await vi.advanceTimersByTimeAsync(800);
    const save = sync.getSnapshot().save;
    expect(save.kind === 'failed' && save.error.message).toContain('could not be read');
    expect(server.updates).toHaveLength(1);
    expect(server.current().content).toBe('Their text');
  });
});
