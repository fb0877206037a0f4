import type { ReactNode } from 'react';
import type { StoryAlternatives } from '../../../types/api';
import type { GenerateAction } from '../hooks/useStoryActions';
import type { GenerationPhase } from '../hooks/useStoryGeneration';
import { GenerationProgress } from './GenerationProgress';

interface StudioToolbarProps {
  generation: { phase: GenerationPhase; startedAt: number | null; firstTextAt: number | null; stop: () => void };
  writing: boolean;
  /** Nothing runs: no generation, no studio call, no save conflict. */
  idle: boolean;
  canGenerate: boolean;
  hasText: boolean;
  hasPremise: boolean;
  alternatives: StoryAlternatives | null;
  canUndo: boolean;
  canRedo: boolean;
  onGenerate: (action: GenerateAction) => void;
  /** "Write here": the model writes at the cursor (null: not in this view). */
  onWriteHere: (() => void) | null;
  onUndo: () => void;
  onRedo: () => void;
  /** Shows version `index` of the last generated passage. */
  onFlip: (index: number) => void;
  mode: 'read' | 'edit';
  onToggleMode: () => void;
  /** The page's own view controls, at the end of the row. */
  children: ReactNode;
}

/** ◀ 2/3 ▶: which version of the last generated passage the text shows. */
function VersionSwitch({ alternatives, idle, onFlip }: { alternatives: StoryAlternatives; idle: boolean; onFlip: (index: number) => void }) {
  return (
    <span className="alternatives" data-testid="alternatives">
      <button
        type="button"
        aria-label="Previous version"
        onClick={() => onFlip(alternatives.chosen - 1)}
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
        onClick={() => onFlip(alternatives.chosen + 1)}
        disabled={!idle || alternatives.chosen >= alternatives.count - 1}
        data-testid="alternative-next"
      >
        ▶
      </button>
    </span>
  );
}

/** Stop and the progress while the model writes; otherwise Generate, Continue, versions, Undo/Redo and the reader; then the view controls. */
export function StudioToolbar(props: StudioToolbarProps) {
  const { generation, writing, idle, canGenerate, hasText, hasPremise, alternatives, canUndo, canRedo, mode } = props;
  return (
    <div className="studio-toolbar" role="toolbar" aria-label="Story tools" data-testid="studio-toolbar">
      {writing ? (
        <>
          <button
            type="button"
            className="button-danger"
            onClick={generation.stop}
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
            onClick={() => props.onGenerate('new')}
            disabled={!canGenerate || !idle || !hasPremise}
            title={hasText ? undefined : 'Ctrl+Enter'}
            data-testid="generate-button"
          >
            Generate story
          </button>
          {hasText && (
            <button
              type="button"
              className="button-primary"
              onClick={() => props.onGenerate('continue')}
              disabled={!canGenerate || !idle}
              title="Ctrl+Enter"
              data-testid="continue-button"
            >
              Continue
            </button>
          )}
          {hasText && props.onWriteHere && (
            <button
              type="button"
              onClick={props.onWriteHere}
              disabled={!canGenerate || !idle}
              title="The model writes at the cursor; the text after it stays as it is (Ctrl+Shift+Enter)"
              aria-keyshortcuts="Control+Shift+Enter Meta+Shift+Enter"
              data-testid="write-here-button"
            >
              Write here
            </button>
          )}
          <button type="button" onClick={() => props.onGenerate('regenerate')} disabled={!canGenerate || !idle || !alternatives} data-testid="regenerate-button">
            Regenerate
          </button>
          {alternatives && alternatives.count > 1 && <VersionSwitch alternatives={alternatives} idle={idle} onFlip={props.onFlip} />}
          <button type="button" onClick={props.onUndo} disabled={!idle || !canUndo} title="Ctrl+Z" data-testid="undo-button">
            Undo
          </button>
          <button type="button" onClick={props.onRedo} disabled={!idle || !canRedo} title="Ctrl+Shift+Z" data-testid="redo-button">
            Redo
          </button>
          <button type="button" onClick={props.onToggleMode} aria-pressed={mode === 'edit'} data-testid="edit-toggle">
            {mode === 'read' ? 'Edit text' : 'Read as formatted'}
          </button>
        </>
      )}
      {props.children}
    </div>
  );
}
