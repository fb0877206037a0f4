import { useState } from 'react';
import type { Generation, LLMSettings } from '../../../types/api';
import type { useRewrite } from '../hooks/useRewrite';
import type { useStoryActions } from '../hooks/useStoryActions';
import type { GenerationView } from '../hooks/useStoryGeneration';
import type { WorkspaceLayout } from '../hooks/useWorkspaceLayout';
import type { DocumentSnapshot, DocumentSync } from '../lib/document-sync';
import type { TextRange } from '../lib/editor/marks';
import { RewriteControls } from './RewriteControls';
import { StoryNotices } from './StoryNotices';
import { StoryPaper } from './StoryPaper';
import { StoryStatusBar } from './StoryStatusBar';
import { StudioToolbar } from './StudioToolbar';
import { WorkspaceToggles } from './WorkspaceToggles';
import { useShownModelText } from '../hooks/useShownModelText';

interface StoryMainProps {
  sync: DocumentSync;
  doc: DocumentSnapshot;
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
  layout: WorkspaceLayout;
  /** The cursor or selection in the text (null: not placed yet, the cursor stands at the end). */
  selection: TextRange | null;
  onSelect: (selection: TextRange) => void;
  /** "Write here": the model writes at the cursor. */
  onWriteHere: () => void;
  rewrite: ReturnType<typeof useRewrite>;
}

/** The main area: the writing tools, the story's text (edited, or read as formatted) and a status line under it. */
export function StoryMain(props: StoryMainProps) {
  const { sync, doc, generation, actions, settings, canGenerate, idle, canUndo, focusOnOpen, lastOnServer, layout, selection, rewrite } = props;
  const [mode, setMode] = useState<'read' | 'edit'>('edit');
  const [showModelText, setShowModelText] = useShownModelText();
  const { fields, server } = doc;
  const writing = generation.isRunning;
  const hasText = fields.content.trim() !== '';
  return (
    <section className="story-main" aria-labelledby="story-output-heading" aria-busy={writing}>
      <div className="story-bar">
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
          onWriteHere={mode === 'edit' ? props.onWriteHere : null}
          onUndo={actions.undo}
          onRedo={actions.redo}
          onFlip={actions.flip}
          mode={mode}
          onToggleMode={() => setMode(mode === 'read' ? 'edit' : 'read')}
        >
          {mode === 'edit' && (
            <RewriteControls
              canRewrite={idle && canGenerate && selection !== null && selection.from < selection.to}
              proposal={rewrite.shown}
              onRewrite={(instruction) => selection && void rewrite.start(selection, instruction)}
              onFlip={rewrite.flip}
              error={rewrite.error}
            />
          )}
          <button type="button" aria-pressed={showModelText} onClick={() => setShowModelText(!showModelText)} title="Mark the text the model wrote" data-testid="show-model-text">
            Show model text
          </button>
          <WorkspaceToggles layout={layout} />
        </StudioToolbar>
      </div>
      <StoryNotices sync={sync} doc={doc} generation={generation} actions={actions} idle={idle} canGenerate={canGenerate} lastOnServer={lastOnServer} />
      <StoryPaper
        sync={sync}
        doc={doc}
        writing={writing}
        mode={mode}
        onSelect={props.onSelect}
        focusOnOpen={focusOnOpen}
        proposal={rewrite.shown}
        proposalActions={rewrite}
        showModelText={showModelText}
        onChoose={(at, text) => void actions.reroll(at, text)}
      />
      <StoryStatusBar sync={sync} doc={doc} generation={generation} settings={settings} selection={mode === 'edit' ? (selection ?? { from: 0, to: 0 }) : null} onDownload={actions.download} />
    </section>
  );
}
