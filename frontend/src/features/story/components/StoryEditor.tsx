import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { useBackendLabel, useModels } from '../../settings';
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
import { chooseAlternative, downloadStory, redoStory, undoStory, useContextBudget } from '../api/studio';
import { readSettings, requestParams, writeSettings, type GenerationSettings } from '../lib/generationSettings';
import { GENRE_LABELS, GENRES, type Genre, LENGTHS, type StoryLength } from '../lib/storyPrompt';
import { titleFromPremise, wordCount } from '../lib/text';
import { BackendStatusLine } from './BackendStatusLine';
import { ContextMeter } from './ContextMeter';
import { GenerationControls } from './GenerationControls';
import { GenerationProgress, GenerationStatsLine } from './GenerationProgress';
import { MemoryFields } from './MemoryFields';
import { StoryReader } from './StoryReader';
import { ConflictNotice, SetAsideNotice } from './ConflictNotice';
import { GenerationNotice } from './GenerationNotice';
import { RevisionsPanel } from './RevisionsPanel';
import { SaveIndicator } from './SaveIndicator';

/** The server calls of the document; an automatic title is sent as one, so the server keeps it unique. */
function documentApi(autoTitle: { current: boolean }): DocumentApi {
  return {
    create: (story) => createStory({ ...story, auto_title: autoTitle.current }),
    update: (id, changes, options) =>
      updateStory(id, autoTitle.current && ('title' in changes || 'premise' in changes) ? { ...changes, auto_title: true } : changes, options),
    get: getStory,
  };
}

function isEditable(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

/** The proxy's headers say who wrote it; the saved settings stand in when they are missing. */
function authorLine(origin: GenerationOrigin | null, settings: LLMSettings | undefined, backendLabel: (backendType: string) => string): string {
  const backend = origin?.backend || settings?.backend_type;
  const model = origin?.model || settings?.default_model;
  const parts = [backend && backendLabel(backend), model].filter(Boolean);
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
  const [autoTitle, setAutoTitle] = useState(() => !initial || initial.auto_title || initial.title === titleFromPremise(initial.premise ?? ''));
  // What the document's saves read at the time they are sent (not during render).
  const autoTitleRef = useRef(autoTitle);
  useEffect(() => {
    autoTitleRef.current = autoTitle;
  }, [autoTitle]);
  // eslint-disable-next-line react-hooks/refs -- the saves read the ref when they are sent, never during render
  const [sync] = useState(() => new DocumentSync(documentApi(autoTitleRef), initial, onCreated));
  const doc = useSyncExternalStore(sync.subscribe, sync.getSnapshot);
  // The story as opened: a later copy of it (a refetch) must not re-attach a second time.
  const [opened] = useState(initial);
  const generation = useStoryGeneration(sync, opened);
  const [setAside, setSetAside] = useState<StoryFields | null>(null);
  const [mode, setMode] = useState<'read' | 'edit'>('edit');
  const [studioError, setStudioError] = useState<Error | null>(null);
  const [studioBusy, setStudioBusy] = useState(false);
  const readerRef = useRef<HTMLHeadingElement>(null);
  const backendLabel = useBackendLabel();
  const { fields, storyId, revision, save, server } = doc;
  const controls = readSettings(fields.settings);
  const backendType = settings?.backend_type ?? null;
  // The model list is asked for once the generation settings are opened (or a model is chosen).
  const [modelsWanted, setModelsWanted] = useState(() => Boolean(readSettings(initial ? JSON.stringify(initial.settings ?? {}) : '{}').model));
  const models = useModels(backendType ?? '', backendType !== null && modelsWanted);
  const writing = generation.isRunning;
  const alternatives = server?.alternatives ?? null;
  const history = server?.history ?? null;
  const hasText = fields.content.trim() !== '';
  const budget = useContextBudget(
    storyId,
    revision,
    { action: 'continue', model: controls.model, maxTokens: controls.max_tokens },
    canGenerate && !writing && save.kind !== 'conflict',
  );

  // A story that opens with text is read first: focus goes to it.
  useEffect(() => {
    if (initial?.content) readerRef.current?.focus();
  }, [initial]);

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

  /**
   * `new`: a new story from the premise (the text it replaces stays in Revisions and Undo);
   * `continue`: the next passage; `regenerate`: another version of the last generated passage.
   */
  const generate = async (action: 'new' | 'continue' | 'regenerate') => {
    setStudioError(null);
    if (!(await sync.settle())) return;
    if (action === 'new' && sync.getSnapshot().fields.content !== '') {
      sync.edit({ content: '' });
      if (!(await sync.settle())) return;
    }
    const { storyId: id, fields: now, server: story } = sync.getSnapshot();
    if (id === null) return;
    if (action === 'regenerate') {
      if (!story?.alternatives) return;
      sync.cutForRegeneration(story.alternatives.start);
    }
    await generation.start({
      ...requestParams(readSettings(now.settings)),
      taleweaver: { story_id: id, action: action === 'regenerate' ? 'regenerate' : 'continue' },
    });
  };

  /** A studio call on the saved story (undo, redo, a version chosen): its answer is the story. */
  const studioCall = async (call: (id: number, base: number) => Promise<Story>) => {
    setStudioError(null);
    setStudioBusy(true);
    try {
      if (!(await sync.settle())) return;
      const { storyId: id, revision: base } = sync.getSnapshot();
      if (id === null) return;
      sync.adopt(await call(id, base));
    } catch (error) {
      setStudioError(error instanceof Error ? error : new Error(String(error)));
    } finally {
      setStudioBusy(false);
    }
  };
  const undo = () => void studioCall(undoStory);
  const redo = () => void studioCall(redoStory);
  const flip = (index: number) => void studioCall((id, base) => chooseAlternative(id, base, index));
  const editSettings = (next: GenerationSettings) => sync.edit({ settings: writeSettings(next) });
  const canUndo = Boolean(history?.can_undo) || sync.hasUnsavedChanges();
  const idle = !writing && !studioBusy && save.kind !== 'conflict';

  // Ctrl/Cmd+Enter writes on, Escape stops; Ctrl/Cmd+Z and Shift+Z undo and redo outside a text field
  // (inside one, the field's own undo works on what is typed there).
  const keys = useRef({ generate, stop: generation.stop, undo, redo, idle, writing, canGenerate, hasText });
  useEffect(() => {
    keys.current = { generate, stop: generation.stop, undo, redo, idle, writing, canGenerate, hasText };
  });
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const k = keys.current;
      const mod = event.ctrlKey || event.metaKey;
      if (event.key === 'Escape' && k.writing) {
        event.preventDefault();
        void k.stop();
      } else if (mod && event.key === 'Enter' && k.idle && k.canGenerate) {
        event.preventDefault();
        void k.generate(k.hasText ? 'continue' : 'new');
      } else if (mod && event.key.toLowerCase() === 'z' && !isEditable(event.target) && k.idle) {
        event.preventDefault();
        if (event.shiftKey) k.redo();
        else k.undo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const restore = async (rev: number) => {
    if (!(await sync.settle()) || storyId === null) throw new Error('Your latest changes are not saved yet; try again once they are.');
    sync.adopt(await restoreRevision(storyId, rev, sync.getSnapshot().revision));
  };

  const words = wordCount(fields.content);
  const lengthStop = !writing && (generation.end ? generation.end.finishReason === 'length' : server?.last_generation?.finish_reason === 'length');
  const lastStats = writing ? undefined : server?.last_generation?.stats;

  return (
    <>
      <form
        className="card story-form"
        onSubmit={(event) => {
          event.preventDefault();
          void generate('new');
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
              onChange={(event) => {
                const length = asLength(event.target.value);
                sync.edit({ length, settings: writeSettings({ ...controls, max_tokens: LENGTHS[length].maxTokens }) });
              }}
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
        <MemoryFields memory={fields.memory} authorsNote={fields.authors_note} onChange={(changes) => sync.edit(changes)} />
        <GenerationControls
          settings={controls}
          onChange={editSettings}
          models={models.data}
          defaultModel={settings?.default_model}
          onOpen={() => setModelsWanted(true)}
          disabled={writing}
        />
        <BackendStatusLine />
        <ContextMeter budget={budget.data} error={budget.error} />
      </form>

      <section className="card story-output" aria-labelledby="story-output-heading" aria-busy={writing}>
        <div className="studio-toolbar" role="toolbar" aria-label="Story tools" data-testid="studio-toolbar">
          {writing ? (
            <>
              <button
                type="button"
                className="button-danger"
                onClick={() => void generation.stop()}
                disabled={generation.phase === 'stopping' || generation.phase === 'starting'}
                data-testid="stop-button"
              >
                {generation.phase === 'stopping' ? 'Stopping…' : 'Stop'}
              </button>
              <GenerationProgress startedAt={generation.startedAt} firstTextAt={generation.firstTextAt} />
            </>
          ) : (
            <>
              <button
                type="button"
                className={hasText ? undefined : 'button-primary'}
                onClick={() => void generate('new')}
                disabled={!canGenerate || !idle || fields.premise.trim() === ''}
                title={hasText ? undefined : 'Ctrl+Enter'}
                data-testid="generate-button"
              >
                Generate story
              </button>
              {hasText && (
                <button
                  type="button"
                  className="button-primary"
                  onClick={() => void generate('continue')}
                  disabled={!canGenerate || !idle}
                  title="Ctrl+Enter"
                  data-testid="continue-button"
                >
                  Continue
                </button>
              )}
              <button
                type="button"
                onClick={() => void generate('regenerate')}
                disabled={!canGenerate || !idle || !alternatives}
                data-testid="regenerate-button"
              >
                Regenerate
              </button>
              {alternatives && alternatives.count > 1 && (
                <span className="alternatives" data-testid="alternatives">
                  <button
                    type="button"
                    aria-label="Previous version"
                    onClick={() => flip(alternatives.chosen - 1)}
                    disabled={!idle || alternatives.chosen === 0}
                    data-testid="alternative-previous"
                  >
                    ◀
                  </button>
                  <span data-testid="alternative-position">
                    {alternatives.chosen + 1}/{alternatives.count}
                  </span>
                  <button
                    type="button"
                    aria-label="Next version"
                    onClick={() => flip(alternatives.chosen + 1)}
                    disabled={!idle || alternatives.chosen >= alternatives.count - 1}
                    data-testid="alternative-next"
                  >
                    ▶
                  </button>
                </span>
              )}
              <button type="button" onClick={undo} disabled={!idle || !canUndo} title="Ctrl+Z" data-testid="undo-button">
                Undo
              </button>
              <button type="button" onClick={redo} disabled={!idle || !history?.can_redo} title="Ctrl+Shift+Z" data-testid="redo-button">
                Redo
              </button>
              <button
                type="button"
                onClick={() => setMode(mode === 'read' ? 'edit' : 'read')}
                aria-pressed={mode === 'edit'}
                data-testid="edit-toggle"
              >
                {mode === 'read' ? 'Edit text' : 'Read as formatted'}
              </button>
            </>
          )}
        </div>
        {!writing && hasText && <p className="muted">Generating writes a new story; this text stays in Revisions.</p>}
        <h2 id="story-output-heading" ref={readerRef} tabIndex={-1}>
          {fields.title || 'Your story'}
        </h2>
        <p className="muted" data-testid="story-origin">
          {writing ? `Writing with ${authorLine(generation.origin, settings, backendLabel)}…` : `${words} words`}
          {!writing && generation.origin && ` · written by ${authorLine(generation.origin, settings, backendLabel)}`}
        </p>
        {lengthStop && (
          <p className="notice" role="status" data-testid="length-stop">
            The model stopped at its length limit —{' '}
            <button type="button" className="link-button" onClick={() => void generate('continue')} disabled={!idle || !canGenerate}>
              Continue?
            </button>
          </p>
        )}
        <GenerationNotice generation={generation} lastOnServer={generation.end || generation.error ? null : (opened?.last_generation ?? null)} />
        {studioError && <ErrorMessage error={studioError} title="That did not work" />}
        <GenerationStatsLine stats={lastStats} />
        {generation.reasoning && (
          <details className="story-thinking" data-testid="story-thinking">
            <summary>Thinking...</summary>
            <div className="story-text muted">{generation.reasoning}</div>
          </details>
        )}
        {mode === 'read' ? (
          <StoryReader text={fields.content} placeholder={writing ? 'Waiting for the first words…' : 'No text yet: press Generate story, or Edit text to write.'} />
        ) : (
          <>
            <label htmlFor="story-text" className="visually-hidden">
              Story text
            </label>
            <textarea
              id="story-text"
              className="story-text story-text-input"
              value={fields.content}
              onChange={(event) => sync.edit({ content: event.target.value })}
              readOnly={writing}
              rows={14}
              placeholder={writing ? 'Waiting for the first words…' : 'Write here, or press Generate story.'}
              data-testid="story-output"
            />
          </>
        )}
        {storyId !== null && hasText && (
          <p className="story-downloads">
            Download:{' '}
            <button type="button" className="link-button" onClick={() => void downloadStory(storyId, 'markdown').catch(setStudioError)} data-testid="export-markdown">
              Markdown
            </button>{' '}
            ·{' '}
            <button type="button" className="link-button" onClick={() => void downloadStory(storyId, 'text').catch(setStudioError)} data-testid="export-text">
              plain text
            </button>
          </p>
        )}
      </section>

      {storyId !== null && (
        <RevisionsPanel storyId={storyId} currentRevision={revision} canRestore={!writing} onRestore={restore} />
      )}
    </>
  );
}
