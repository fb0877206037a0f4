import { useEffect, useRef, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { Generation, LLMSettings } from '../../../types/api';
import type { useStoryActions } from '../hooks/useStoryActions';
import type { GenerationView } from '../hooks/useStoryGeneration';
import type { DocumentSnapshot } from '../lib/document-sync';
import { wordCount } from '../lib/text';
import { GenerationNotice } from './GenerationNotice';
import { GenerationStatsLine } from './GenerationProgress';
import { StoryOrigin } from './StoryOrigin';
import { StoryReader } from './StoryReader';
import { StudioToolbar } from './StudioToolbar';

interface StoryOutputProps {
  doc: DocumentSnapshot;
  onTextChange: (content: string) => void;
  generation: GenerationView & { isRunning: boolean; stop: () => Promise<void> };
  actions: ReturnType<typeof useStoryActions>;
  settings: LLMSettings | undefined;
  canGenerate: boolean;
  idle: boolean;
  canUndo: boolean;
  /** The story opened with text: it is read first, so focus goes to it. */
  focusOnOpen: boolean;
  /** The story's last generation as the server had it when the page opened. */
  lastOnServer: Generation | null;
}

/** The story itself: the writing tools, the text (edited, or read as formatted) and how the last generation went. */
export function StoryOutput({ doc, onTextChange, generation, actions, settings, canGenerate, idle, canUndo, focusOnOpen, lastOnServer }: StoryOutputProps) {
  const [mode, setMode] = useState<'read' | 'edit'>('edit');
  const headingRef = useRef<HTMLHeadingElement>(null);
  const { fields, storyId, server } = doc;
  const writing = generation.isRunning;
  const hasText = fields.content.trim() !== '';
  const lengthStop = !writing && (generation.end ? generation.end.finishReason === 'length' : server?.last_generation?.finish_reason === 'length');
  const waiting = 'Waiting for the first words…';

  useEffect(() => {
    if (focusOnOpen) headingRef.current?.focus();
  }, [focusOnOpen]);

  return (
    <section className="card story-output" aria-labelledby="story-output-heading" aria-busy={writing}>
      <StudioToolbar
        generation={{ ...generation, stop: () => void generation.stop() }}
        writing={writing}
        idle={idle}
        canGenerate={canGenerate}
        hasText={hasText}
        hasPremise={fields.premise.trim() !== ''}
        alternatives={server?.alternatives ?? null}
        canUndo={canUndo}
        canRedo={Boolean(server?.history?.can_redo)}
        onGenerate={(action) => void actions.generate(action)}
        onUndo={actions.undo}
        onRedo={actions.redo}
        onFlip={actions.flip}
        mode={mode}
        onToggleMode={() => setMode(mode === 'read' ? 'edit' : 'read')}
      />
      {!writing && hasText && <p className="muted">Generating writes a new story; this text stays in Revisions.</p>}
      <h2 id="story-output-heading" ref={headingRef} tabIndex={-1}>
        {fields.title || 'Your story'}
      </h2>
      <StoryOrigin writing={writing} words={wordCount(fields.content)} origin={generation.origin} settings={settings} />
      {lengthStop && (
        <p className="notice" role="status" data-testid="length-stop">
          The model stopped at its length limit —{' '}
          <button type="button" className="link-button" onClick={() => void actions.generate('continue')} disabled={!idle || !canGenerate}>
            Continue?
          </button>
        </p>
      )}
      <GenerationNotice generation={generation} lastOnServer={generation.end || generation.error ? null : lastOnServer} />
      {actions.error && <ErrorMessage error={actions.error} title="That did not work" />}
      <GenerationStatsLine stats={writing ? undefined : server?.last_generation?.stats} />
      {generation.reasoning && (
        <details className="story-thinking" data-testid="story-thinking">
          <summary>Thinking...</summary>
          <div className="story-text muted">{generation.reasoning}</div>
        </details>
      )}
      {mode === 'read' ? (
        <StoryReader text={fields.content} placeholder={writing ? waiting : 'No text yet: press Generate story, or Edit text to write.'} />
      ) : (
        <>
          <label htmlFor="story-text" className="visually-hidden">
            Story text
          </label>
          <textarea
            id="story-text"
            className="story-text story-text-input"
            value={fields.content}
            onChange={(event) => onTextChange(event.target.value)}
            readOnly={writing}
            rows={14}
            placeholder={writing ? waiting : 'Write here, or press Generate story.'}
            data-testid="story-output"
          />
        </>
      )}
      {storyId !== null && hasText && (
        <p className="story-downloads">
          Download:{' '}
          <button type="button" className="link-button" onClick={() => actions.download(storyId, 'markdown')} data-testid="export-markdown">
            Markdown
          </button>{' '}
          ·{' '}
          <button type="button" className="link-button" onClick={() => actions.download(storyId, 'text')} data-testid="export-text">
            plain text
          </button>
        </p>
      )}
    </section>
  );
}
