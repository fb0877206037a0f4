import { ApiError } from '../../../lib/api-client';
import type { CreateStoryRequest, Story, UpdateStoryRequest } from '../../../types/api';
import type { StoryFields } from '../api/types';

/** Where the user's text stands with the server, as the save indicator tells it. */
export type SaveState =
  | { kind: 'new' }
  | { kind: 'saved' }
  | { kind: 'saving' }
  | { kind: 'failed'; error: Error }
  | { kind: 'conflict'; theirs: Story };

export interface DocumentSnapshot {
  storyId: number | null;
  revision: number;
  fields: StoryFields;
  save: SaveState;
  /** The story as the server last answered it (its alternatives, history, last generation). */
  server: Story | null;
}

/** The server calls a document needs; the page passes the real ones, tests may pass their own. */
export interface DocumentApi {
  create: (story: CreateStoryRequest) => Promise<Story>;
  update: (id: number, changes: UpdateStoryRequest, options: { keepalive: boolean }) => Promise<Story>;
  get: (id: number) => Promise<Story>;
}

export interface SyncTiming {
  /** A save goes out once typing has paused this long... */
  quietMs: number;
  /** ...and never later than this after the first unsaved change. */
  maxDelayMs: number;
  /** A save that failed on the network or the server is tried again after this long. */
  retryMs: number;
}

export const DEFAULT_TIMING: SyncTiming = { quietMs: 700, maxDelayMs: 2000, retryMs: 5000 };

const FIELDS = ['title', 'premise', 'genre', 'length', 'content', 'memory', 'authors_note', 'settings'] as const;

export const EMPTY_FIELDS: StoryFields = {
  title: '',
  premise: '',
  genre: 'fantasy',
  length: 'medium',
  content: '',
  memory: '',
  authors_note: '',
  settings: '{}',
};

export function fieldsOf(story: Story): StoryFields {
  return {
    title: story.title,
    premise: story.premise ?? '',
    genre: story.genre || EMPTY_FIELDS.genre,
    length: story.length || EMPTY_FIELDS.length,
    content: story.content ?? '',
    memory: story.memory ?? '',
    authors_note: story.authors_note ?? '',
    settings: JSON.stringify(story.settings ?? {}),
  };
}

/** The fields as the API takes them (`settings` as an object). */
export function wireFields<T extends Partial<StoryFields>>(fields: T): Omit<T, 'settings'> & { settings?: { [key: string]: unknown } } {
  const { settings, ...rest } = fields;
  return settings === undefined ? rest : { ...rest, settings: JSON.parse(settings) as { [key: string]: unknown } };
}

function changedFields(fields: StoryFields, base: StoryFields): Partial<StoryFields> {
  const changes: Partial<StoryFields> = {};
  for (const name of FIELDS) if (fields[name] !== base[name]) changes[name] = fields[name];
  return changes;
}

function isTransient(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 0 || error.status >= 500);
}

/**
 * One story as the user edits it, kept on the server: creates it at the first words, saves
 * what changed (debounced, at most `maxDelayMs` behind) over the revision it was based on,
 * and never overwrites a newer save made elsewhere (409 `revision_conflict`).
 */
export class DocumentSync {
  private snapshot: DocumentSnapshot;
  /** What the server holds, as far as this page knows; null before the story exists. */
  private synced: StoryFields | null;
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private dirtySince: number | null = null;
  private inFlight: Promise<void> | null = null;
  /** What the model wrote in the text as last edited (code points): saved with that text. */
  private marks: { content: string; ranges: number[][] } | null = null;
  private sendAgain = false;

  constructor(
    private readonly api: DocumentApi,
    story: Story | null,
    private readonly onCreated: (story: Story) => void = () => undefined,
    private readonly timing: SyncTiming = DEFAULT_TIMING,
  ) {
    this.synced = story ? fieldsOf(story) : null;
    this.snapshot = story
      ? { storyId: story.id, revision: story.revision, fields: fieldsOf(story), save: { kind: 'saved' }, server: story }
      : { storyId: null, revision: 0, fields: EMPTY_FIELDS, save: { kind: 'new' }, server: null };
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): DocumentSnapshot => this.snapshot;

  private update(change: Partial<DocumentSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    this.listeners.forEach((listener) => listener());
  }

  private isDirty(): boolean {
    const { fields } = this.snapshot;
    if (this.synced === null) return fields.premise.trim() !== '' || fields.content.trim() !== '' || fields.title.trim() !== '';
    return Object.keys(changedFields(fields, this.synced)).length > 0;
  }

  /** True while something the user typed is not on the server yet (a reason to warn before closing). */
  hasUnsavedChanges(): boolean {
    return this.inFlight !== null || this.isDirty();
  }

  /** The user changed some fields: show them at once, save them soon. */
  edit(changes: Partial<StoryFields>): void {
    this.update({ fields: { ...this.snapshot.fields, ...changes } });
    if (this.snapshot.save.kind === 'conflict') return; // nothing is sent until the user chooses
    if (!this.isDirty()) {
      if (!this.inFlight && this.snapshot.save.kind === 'saving') this.update({ save: { kind: 'saved' } });
      return;
    }
    if (this.snapshot.save.kind !== 'failed') this.update({ save: { kind: 'saving' } });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight || !this.isDirty() || this.snapshot.save.kind === 'conflict') return;
    if (this.synced === null) {
      void this.flush(); // a new story exists from the first keystroke
      return;
    }
    const now = Date.now();
    this.dirtySince ??= now;
    const delay = Math.max(0, Math.min(this.timing.quietMs, this.dirtySince + this.timing.maxDelayMs - now));
    this.timer = setTimeout(() => void this.flush(), delay);
  }

  /** Saves what is unsaved now; `keepalive` lets the request outlive a closing page. */
  flush({ keepalive = false } = {}): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) {
      this.sendAgain = true;
      return this.inFlight;
    }
    if (!this.isDirty() || this.snapshot.save.kind === 'conflict') return Promise.resolve();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.dirtySince = null;
    this.inFlight = this.send(keepalive).finally(() => {
      this.inFlight = null;
      const again = this.sendAgain;
      this.sendAgain = false;
      if (this.snapshot.save.kind === 'conflict' || this.snapshot.save.kind === 'failed') return;
      if (again) void this.flush({ keepalive });
      else this.schedule();
    });
    return this.inFlight;
  }

  /** Saves until nothing is unsaved; false when a save failed or conflicts (the state says why). */
  async settle(): Promise<boolean> {
    while (this.hasUnsavedChanges()) {
      if (this.snapshot.save.kind === 'conflict') return false;
      await this.flush();
      const { kind } = this.getSnapshot().save; // changed by the save just awaited
      if (kind === 'failed' || kind === 'conflict') return false;
    }
    return this.snapshot.storyId !== null;
  }

  private async send(keepalive: boolean): Promise<void> {
    const sent = this.snapshot.fields;
    this.update({ save: { kind: 'saving' } });
    try {
      if (this.synced === null || this.snapshot.storyId === null) {
        const story = await this.api.create(wireFields({ ...sent }));
        this.synced = sent;
        this.update({ storyId: story.id, revision: story.revision, server: story });
        this.takeServerTitle(story, sent);
        this.onCreated(story);
      } else {
        const changes = changedFields(sent, this.synced);
        const marks = changes.content !== undefined && this.marks?.content === changes.content ? { marks: this.marks.ranges } : {};
        const story = await this.api.update(this.snapshot.storyId, { base_revision: this.snapshot.revision, ...wireFields(changes), ...marks }, { keepalive });
        this.synced = { ...this.synced, ...changes };
        this.update({ revision: story.revision, server: story });
        this.takeServerTitle(story, sent);
      }
      this.update({ save: this.isDirty() ? { kind: 'saving' } : { kind: 'saved' } });
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.code === 'revision_conflict') {
        await this.checkConflict();
        return;
      }
      this.update({ save: { kind: 'failed', error: error instanceof Error ? error : new Error(String(error)) } });
      if (isTransient(error)) this.retryTimer = setTimeout(() => void this.retry(), this.timing.retryMs);
    }
  }

  /** The server keeps an automatic title unique ("… (2)"): the page shows the title it kept,
   * unless the user has typed another since. */
  private takeServerTitle(story: Story, sent: StoryFields): void {
    if (story.title === sent.title || this.synced === null) return;
    this.synced = { ...this.synced, title: story.title };
    if (this.snapshot.fields.title === sent.title) this.update({ fields: { ...this.snapshot.fields, title: story.title } });
  }

  /** A 409: another save landed first. Only when its text differs from what this page last saved is it a conflict. */
  private async checkConflict(): Promise<void> {
    let theirs: Story;
    try {
      theirs = await this.api.get(this.snapshot.storyId as number);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      this.update({ save: { kind: 'failed', error: new Error(`the story was saved elsewhere, and that version could not be read (${why})`) } });
      return;
    }
    const synced = this.synced as StoryFields;
    if (Object.keys(changedFields(fieldsOf(theirs), synced)).length === 0) {
      // Nothing differs but the revision number (e.g. a generation of this page ended): save over it.
      this.update({ revision: theirs.revision });
      this.sendAgain = true;
      return;
    }
    this.update({ save: { kind: 'conflict', theirs } });
  }

  /** Tries the failed save again (the indicator's Retry). */
  retry(): Promise<void> {
    if (this.snapshot.save.kind === 'failed') this.update({ save: { kind: 'saving' } });
    return this.flush();
  }

  /** Replaces everything with the server's version of the story. */
  private load(story: Story): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.synced = fieldsOf(story);
    this.dirtySince = null;
    this.update({ storyId: story.id, revision: story.revision, fields: fieldsOf(story), save: { kind: 'saved' }, server: story });
  }

  /** Conflict: show the version saved elsewhere; returns this page's version so the page can still keep it. */
  async reloadTheirs(): Promise<StoryFields> {
    const mine = this.snapshot.fields;
    this.load(await this.api.get(this.snapshot.storyId as number));
    return mine;
  }

  /** Conflict: this page's version becomes a new story "<title> (copy)"; this story shows the server's version. */
  async keepBoth(): Promise<Story> {
    const mine = this.snapshot.fields;
    const copy = await this.api.create(wireFields({ ...mine, title: `${mine.title || 'Untitled story'} (copy)` }));
    const { save } = this.snapshot;
    try {
      this.load(await this.api.get(this.snapshot.storyId as number));
    } catch {
      if (save.kind === 'conflict') this.load(save.theirs);
    }
    return copy;
  }

  /** Saves `fields` as a new story (a version set aside by "Reload theirs"). */
  saveAsNewStory(fields: StoryFields): Promise<Story> {
    return this.api.create(wireFields({ ...fields, title: `${fields.title || 'Untitled story'} (copy)` }));
  }

  /** Who wrote what in `content` (the text the writer just made): the ranges the model wrote, in code points. */
  noteMarks(content: string, ranges: number[][]): void {
    this.marks = { content, ranges };
  }

  /** A regeneration replaces the passage from `start` (code points): the page shows the text
   * before it, as the server is about to have it, and the new version arrives after it. */
  cutForRegeneration(start: number): void {
    const content = Array.from(this.snapshot.fields.content).slice(0, start).join('');
    if (this.synced) this.synced = { ...this.synced, content };
    this.update({ fields: { ...this.snapshot.fields, content } });
  }

  /** Text a generation wrote on the server at `at` (UTF-16; null: at the end, "Write here" inside the text): shown, and already saved there. */
  appendGenerated(text: string, at: number | null = null): void {
    const current = this.snapshot.fields.content;
    const where = at ?? current.length;
    const content = current.slice(0, where) + text + current.slice(where);
    if (this.synced) this.synced = { ...this.synced, content };
    this.update({ fields: { ...this.snapshot.fields, content } });
  }

  /**
   * The server's story after a change made there (a generation ended, a revision restored):
   * its fields replace those the user has not changed since; unsaved edits stay and are saved.
   */
  adopt(story: Story): void {
    const server = fieldsOf(story);
    const previous = this.synced ?? server;
    const fields = { ...this.snapshot.fields };
    for (const name of FIELDS) if (fields[name] === previous[name]) fields[name] = server[name];
    this.synced = server;
    this.update({ storyId: story.id, revision: story.revision, fields, server: story });
    if (this.snapshot.save.kind === 'conflict') return;
    this.update({ save: this.isDirty() ? { kind: 'saving' } : { kind: 'saved' } });
    this.schedule();
  }

  /** Stops the timers (the page is going away; `flush` first to save). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = null;
  }
}
