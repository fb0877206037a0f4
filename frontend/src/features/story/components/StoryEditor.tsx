import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, useSyncExternalStore } from 'react';
import { BACKEND_LABELS } from '../../../lib/backends';
import { isBackendType } from '../../../lib/backends';
import type { LLMSettings } from '../../../types/api';
import { createStory } from '../api/create-story';
import { storiesQueryOptions } from '../api/get-stories';
import { getStory } from '../api/get-story';
import { restoreRevision } from '../api/revisions';
import type { Story } from '../../../types/api';
import type { StoryFields } from '../api/types';
import { updateStory } from '../api/update-story';
import { useStoryGeneration, type GenerationOrigin } from '../hooks/useStoryGeneration';
import { DocumentSync, type DocumentApi } from '../lib/document-sync';
import { buildStoryRequest, GENRE_LABELS, GENRES, type Genre, LENGTHS, type StoryLength } from '../lib/storyPrompt';
import { titleFromPremise, wordCount } from '../lib/text';
import { ConflictNotice, SetAsideNotice } from './ConflictNotice';
import { GenerationNotice } from './GenerationNotice';
import { RevisionsPanel } from './RevisionsPanel';
import { SaveIndicator } from './SaveIndicator';

const DOCUMENT_API: DocumentApi = { create: createStory, update: updateStory, get: getStory };

/** The proxy's headers say who wrote it; the saved settings stand in when they are missing. */
function authorLine(origin: GenerationOrigin | null, settings: LLMSettings | undefined): string {
  const backend = [origin?.backend, settings?.backend_type].find(isBackendType);
  const model = origin?.model || settings?.default_model;
  const parts = [backend && BACKEND_LABELS[backend], model].filter(Boolean);
  return parts.length ? parts.join(' · ') : 'the configured backend';
}

function asGenre(value: string): Genre {
  return (GENRES as readonly string[]).includes(value) ? (value as Genre) : 'fantasy';
}

function asLength(value: string): StoryLength {
  return value in LENGTHS ? (value as StoryLength) : 'medium';
}

interface StoryEditorProps {
  /** The story as loaded, or null for a new one (created on the server at the first words). */
  initial: Story | null;
  settings: LLMSettings | undefined;
  canGenerate: boolean;
  onCreated: (story: Story) => void;
}

/** One story being written: every field autosaved, generation on the server, revisions at hand. */
export function StoryEditor({ initial, settings, canGenerate, onCreated }: StoryEditorProps) {
  const queryClient = useQueryClient();
  const [sync] = useState(() => new DocumentSync(DOCUMENT_API, initial, onCreated));
  const doc = useSyncExternalStore(sync.subscribe, sync.getSnapshot);
  // The story as opened: a later copy of it (a refetch) must not re-attach a second time.
  const [opened] = useState(initial);
  const generation = useStoryGeneration(sync, opened);
  const [autoTitle, setAutoTitle] = useState(() => !initial || initial.title === titleFromPremise(initial.premise ?? ''));
  const [setAside, setSetAside] = useState<StoryFields | null>(null);
  const { fields, storyId, revision, save } = doc;

  // Closing or hiding the tab saves at once; a request with keepalive outlives the page.
  useEffect(() => {
    const flush = () => void sync.flush({ keepalive: true });
    const onVisibility = () => {
      if (document.visibilityState === 'hidden') flush();
    };
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      if (!sync.hasUnsavedChanges()) return;
      event.preventDefault();
      event.returnValue = '';
    };
    document.addEventListener('visibilitychange', onVisibility);
    window.addEventListener('pagehide', flush);
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => {
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('pagehide', flush);
      window.removeEventListener('beforeunload', onBeforeUnload);
      void sync.flush(); // leaving for another page of the app
      sync.dispose();
    };
  }, [sync]);

  // The library shows the latest title, word count and order.
  useEffect(() => {
    if (storyId !== null) void queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
  }, [queryClient, storyId, revision]);

  useEffect(() => {
    document.title = `${fields.title || 'New story'} — Taleweaver`;
  }, [fields.title]);
  useEffect(() => () => void (document.title = 'Taleweaver'), []);

  const editPremise = (premise: string) => sync.edit(autoTitle ? { premise, title: titleFromPremise(premise) } : { premise });
  // A story always has a title: cleared, it is named after the premise again.
  const editTitle = (title: string) => {
    const cleared = title.trim() === '';
    setAutoTitle(cleared);
    sync.edit({ title: cleared ? titleFromPremise(fields.premise) : title });
  };

  const generate = async () => {
    if (!(await sync.settle())) return;
    // A new story from the premise; the text it replaces stays a revision.
    if (sync.getSnapshot().fields.content !== '') {
      sync.edit({ content: '' });
      if (!(await sync.settle())) return;
    }
    const { storyId: id, fields: now } = sync.getSnapshot();
    if (id === null) return;
    const request = buildStoryRequest({ premise: now.premise, genre: asGenre(now.genre), length: asLength(now.length) });
    await generation.start({ ...request, taleweaver: { story_id: id } });
  };

  const restore = async (rev: number) => {
    if (!(await sync.settle()) || storyId === null) throw new Error('Your latest changes are not saved yet; try again once they are.');
    sync.adopt(await restoreRevision(storyId, rev, sync.getSnapshot().revision));
  };

  const writing = generation.isRunning;
  const words = wordCount(fields.content);

  return (
    <>
      <form
        className="card story-form"
        onSubmit={(event) => {
          event.preventDefault();
          void generate();
        }}
      >
        <div className="story-form-bar">
          <SaveIndicator save={save} onRetry={() => void sync.retry()} />
        </div>
        {save.kind === 'conflict' && (
          <ConflictNotice
            theirs={save.theirs}
            onReloadTheirs={async () => setSetAside(await sync.reloadTheirs())}
            onKeepBoth={async () => {
              await sync.keepBoth();
              await queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
            }}
          />
        )}
        {setAside && (
          <SetAsideNotice
            mine={setAside}
            onSaveAsNew={async () => {
              const copy = await sync.saveAsNewStory(setAside);
              await queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
              return copy;
            }}
            onDismiss={() => setSetAside(null)}
          />
        )}
        <div className="field">
          <label htmlFor="story-title">Title</label>
          <input
            id="story-title"
            value={fields.title}
            onChange={(event) => editTitle(event.target.value)}
            placeholder="Named after the premise until you name it"
            data-testid="story-title"
          />
        </div>
        <div className="field">
          <label htmlFor="story-premise">Premise</label>
          <textarea
            id="story-premise"
            rows={4}
            value={fields.premise}
            onChange={(event) => editPremise(event.target.value)}
            placeholder="A lighthouse keeper finds a letter addressed to her, dated a hundred years from now."
            data-testid="story-premise"
          />
        </div>
        <div className="field-row">
          <div className="field">
            <label htmlFor="story-genre">Genre</label>
            <select id="story-genre" value={asGenre(fields.genre)} onChange={(event) => sync.edit({ genre: event.target.value })} data-testid="story-genre">
              {GENRES.map((value) => (
                <option key={value} value={value}>
                  {GENRE_LABELS[value]}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="story-length">Length</label>
            <select
              id="story-length"
              value={asLength(fields.length)}
              onChange={(event) => sync.edit({ length: event.target.value })}
              data-testid="story-length"
            >
              {Object.entries(LENGTHS).map(([value, { label }]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div className="actions">
          {writing ? (
            <button
              type="button"
              className="button-danger"
              onClick={() => void generation.stop()}
              disabled={generation.phase === 'stopping' || generation.phase === 'starting'}
              data-testid="stop-button"
            >
              {generation.phase === 'stopping' ? 'Stopping…' : 'Stop'}
            </button>
          ) : (
            <button
              type="submit"
              className="button-primary"
              disabled={!canGenerate || fields.premise.trim() === '' || save.kind === 'conflict'}
              data-testid="generate-button"
            >
              Generate story
            </button>
          )}
          {!writing && fields.content !== '' && <span className="muted">Generating writes a new story; this text stays in Revisions.</span>}
        </div>
      </form>

      <section className="card story-output" aria-labelledby="story-output-heading" aria-busy={writing}>
        <h2 id="story-output-heading">Your story</h2>
        <p className="muted" data-testid="story-origin">
          {writing ? `Writing with ${authorLine(generation.origin, settings)}…` : `${words} words`}
          {!writing && generation.origin && ` · written by ${authorLine(generation.origin, settings)}`}
        </p>
        <GenerationNotice generation={generation} lastOnServer={generation.end || generation.error ? null : (opened?.last_generation ?? null)} />
        {generation.reasoning && (
          <details className="story-thinking" data-testid="story-thinking">
            <summary>Thinking...</summary>
            <div className="story-text muted">{generation.reasoning}</div>
          </details>
        )}
        <label htmlFor="story-text" className="visually-hidden">
          Story text
        </label>
        <textarea
          id="story-text"
          className="story-text story-text-input"
          value={fields.content}
          onChange={(event) => sync.edit({ content: event.target.value })}
          readOnly={writing}
          rows={12}
          placeholder={writing ? 'Waiting for the first words…' : 'Write here, or press Generate story.'}
          data-testid="story-output"
        />
      </section>

      {storyId !== null && (
        <RevisionsPanel storyId={storyId} currentRevision={revision} canRestore={!writing} onRestore={restore} />
      )}
    </>
  );
}
