import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../../../lib/api-client';
import {
  followGeneration,
  type GenerationEnd,
  type GenerationHandlers,
  startGeneration,
  stopGeneration,
  StreamDropped,
} from '../api/generations';
import { getStory } from '../api/get-story';
import type { Generation, Story } from '../../../types/api';
import type { StoryGenerationRequest } from '../api/types';
import type { DocumentSync } from '../lib/document-sync';
import { GenerationCursor } from '../lib/generation-cursor';
import { codeUnitIndex } from '../lib/text';

export type GenerationPhase = 'idle' | 'starting' | 'running' | 'reconnecting' | 'stopping';

export interface GenerationOrigin {
  backend: string | null;
  model: string | null;
}

export interface GenerationView {
  phase: GenerationPhase;
  /** How the last generation this page saw ended (null while one runs or before any). */
  end: GenerationEnd | null;
  /** A failure to start, follow or stop a generation (not the model's own failure: that is in `end`). */
  error: Error | null;
  reasoning: string;
  /** The running generation is a rewrite: its words are a proposal (`proposal`), not in the text. */
  rewriting: boolean;
  proposal: string;
  origin: GenerationOrigin | null;
  /** When this page started or re-attached to the running generation, and saw its first text (ms). */
  startedAt: number | null;
  firstTextAt: number | null;
}

const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 5000;

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** A dropped stream or a server that is away for a moment (restarting): worth following again. */
function isReconnectable(error: unknown): boolean {
  return error instanceof StreamDropped || (error instanceof ApiError && (error.status === 0 || error.status >= 500));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new DOMException('Stopped following the generation.', 'AbortError'));
    });
  });
}

/**
 * The story's generation as a server-side job: starts one, follows it (and re-attaches to one
 * already running when the page opens, from the offset of the text it shows), reconnects when
 * the stream drops, and stops it with the server's stop call. Text goes into the document.
 */
export function useStoryGeneration(sync: DocumentSync, initial: Story | null) {
  const [view, setView] = useState<GenerationView>(() => ({
    phase: 'idle',
    end: null,
    error: null,
    reasoning: '',
    rewriting: false,
    proposal: '',
    origin: initial?.active_generation ? { backend: initial.active_generation.backend_type, model: initial.active_generation.model } : null,
    startedAt: null,
    firstTextAt: null,
  }));
  const generationId = useRef<number | null>(null);
  const controller = useRef<AbortController | null>(null);
  const cursor = useRef(new GenerationCursor());
  // Where the generation's words go in the page's text (UTF-16), moving on as they come; null: at the end.
  const writeAt = useRef<number | null>(null);
  const proposing = useRef(false);

  const handlers: GenerationHandlers = {
    onText: (text, end) => {
      const fresh = cursor.current.take(text, end);
      if (!fresh) return;
      if (proposing.current) {
        setView((current) => ({ ...current, proposal: current.proposal + fresh }));
      } else {
        sync.appendGenerated(fresh, writeAt.current);
        if (writeAt.current !== null) writeAt.current += fresh.length;
      }
      setView((current) => (current.firstTextAt === null ? { ...current, firstTextAt: Date.now() } : current));
    },
    onReasoning: (text) => setView((current) => ({ ...current, reasoning: current.reasoning + text })),
  };

  /** The story's newest generation, for a start whose answer did not name it (the header hidden). */
  const runningGenerationId = async (): Promise<number | null> => {
    const storyId = sync.getSnapshot().storyId;
    if (storyId === null) return null;
    const story = await getStory(storyId).catch(() => null);
    return (story?.active_generation ?? story?.last_generation)?.id ?? null;
  };

  /** Follows until the generation ends, re-attaching from the cursor whenever the stream drops. */
  const followToEnd = async (first: () => Promise<GenerationEnd>, signal: AbortSignal): Promise<GenerationEnd> => {
    let attempt = first;
    let wait = RECONNECT_FIRST_MS;
    for (;;) {
      try {
        const end = await attempt();
        return end;
      } catch (error) {
        if (isAbort(error) || !isReconnectable(error)) throw error;
        generationId.current ??= await runningGenerationId();
        if (generationId.current === null) throw error;
        setView((current) => ({ ...current, phase: 'reconnecting' }));
        await sleep(wait, signal);
        wait = Math.min(wait * 2, RECONNECT_MAX_MS);
        const id = generationId.current;
        attempt = async () => {
          const end = followGeneration(id, cursor.current.offset, handlers, signal);
          setView((current) => (current.phase === 'reconnecting' ? { ...current, phase: 'running' } : current));
          return end;
        };
      }
    }
  };

  /** After the job ended, the server's story (its new revision) is what the page edits on. */
  const finish = async (end: GenerationEnd | null, error: Error | null, signal: AbortSignal) => {
    const storyId = sync.getSnapshot().storyId;
    let refreshError: Error | null = null;
    if (storyId !== null && !signal.aborted) {
      try {
        sync.adopt(await getStory(storyId));
      } catch (problem) {
        refreshError = problem instanceof Error ? problem : new Error(String(problem));
      }
    }
    if (signal.aborted) return;
    setView((current) => ({ ...current, phase: 'idle', end, error: error ?? refreshError }));
  };

  const run = async (first: (signal: AbortSignal) => Promise<GenerationEnd>) => {
    controller.current?.abort();
    const abort = new AbortController();
    controller.current = abort;
    try {
      const end = await followToEnd(() => first(abort.signal), abort.signal);
      await finish(end, null, abort.signal);
    } catch (error) {
      if (isAbort(error)) return;
      await finish(null, error instanceof Error ? error : new Error(String(error)), abort.signal);
    }
  };

  const attach = (generation: Generation, shownLength: number) => {
    generationId.current = generation.id;
    proposing.current = generation.action === 'rewrite';
    // A rewrite's words are not in the story's text: all of them are followed again.
    cursor.current = new GenerationCursor(proposing.current ? 0 : shownLength);
    // An insert's words so far stand after its position in the text the page shows.
    const inserting = generation.action === 'insert' && typeof generation.prefix_length === 'number';
    writeAt.current = inserting ? codeUnitIndex(sync.getSnapshot().fields.content, (generation.prefix_length as number) + shownLength) : null;
    setView((current) => ({
      ...current,
      phase: 'running',
      end: null,
      error: null,
      origin: { backend: generation.backend_type, model: generation.model },
      rewriting: proposing.current,
      proposal: '',
      startedAt: Date.now(),
      firstTextAt: generation.text_length > 0 ? Date.now() : null,
    }));
    void run((signal) => followGeneration(generation.id, cursor.current.offset, handlers, signal));
  };

  const attachRef = useRef(attach);
  attachRef.current = attach;

  // A story opened while its generation runs: follow it from the text the page already shows.
  useEffect(() => {
    const active = initial?.active_generation;
    if (active) attachRef.current(active, active.text_length);
    return () => controller.current?.abort(); // the job goes on on the server; only following stops
  }, [initial]);

  const start = useCallback(
    /** `at`: where in the page's text (UTF-16) the words go, for a "Write here" (null: at the end). */
    async (request: StoryGenerationRequest, at: number | null = null) => {
      generationId.current = null;
      cursor.current = new GenerationCursor(0);
      writeAt.current = at;
      proposing.current = request.taleweaver.action === 'rewrite';
      setView({
        phase: 'starting',
        end: null,
        error: null,
        reasoning: '',
        rewriting: proposing.current,
        proposal: '',
        origin: null,
        startedAt: Date.now(),
        firstTextAt: null,
      });
      let alreadyRunning = false;
      await run(async (signal) => {
        try {
          return await startGeneration(
            request,
            {
              ...handlers,
              onStarted: ({ generationId: id, backend, model }) => {
                generationId.current = id;
                setView((current) => ({ ...current, phase: 'running', origin: { backend, model } }));
              },
            },
            signal,
          );
        } catch (error) {
          if (error instanceof ApiError && error.code === 'generation_running') alreadyRunning = true;
          throw error;
        }
      });
      if (alreadyRunning) {
        // Another tab started one first: show that one instead.
        const story = await getStory(request.taleweaver.story_id).catch(() => null);
        if (story?.active_generation) {
          sync.adopt(story);
          attachRef.current(story.active_generation, story.active_generation.text_length);
        }
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `run` and `handlers` only read refs and the sync
    [sync],
  );

  const stop = useCallback(async () => {
    const id = generationId.current;
    if (id === null) return;
    setView((current) => ({ ...current, phase: 'stopping' }));
    try {
      await stopGeneration(id); // the followed stream then brings the last words and the end
    } catch (error) {
      setView((current) => ({ ...current, phase: 'running', error: error instanceof Error ? error : new Error(String(error)) }));
    }
  }, []);

  return { ...view, isRunning: view.phase !== 'idle', start, stop };
}
