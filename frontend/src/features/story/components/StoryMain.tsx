import { useEffect, useMemo, useRef, useState } from 'react';
import type { Generation, LLMSettings } from '../../../types/api';
import type { useStoryActions } from '../hooks/useStoryActions';
import type { GenerationView } from '../hooks/useStoryGeneration';
import type { WorkspaceLayout } from '../hooks/useWorkspaceLayout';
import type { DocumentSnapshot, DocumentSync } from '../lib/document-sync';
import type { TextRange } from '../lib/editor/marks';
import { lastPassageRange } from '../lib/text';
import { useFollowing } from '../hooks/useFollowing';
import { StoryNotices } from './StoryNotices';
import { StoryReader } from './StoryReader';
import { StoryStatusBar } from './StoryStatusBar';
import { StoryTextEditor } from './StoryTextEditor';
import { StudioToolbar } from './StudioToolbar';
import { WorkspaceToggles } from './WorkspaceToggles';

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
}

/** The main area: the writing tools, the story's text (edited, or read as formatted) and a status line under it. */
export function StoryMain({ sync, doc, generation, actions, settings, canGenerate, idle, canUndo, focusOnOpen, lastOnServer, layout }: StoryMainProps) {
  const [mode, setMode] = useState<'read' | 'edit'>('edit');
  const [selection, setSelection] = useState<TextRange>({ from: 0, to: 0 });
  const headingRef = useRef<HTMLHeadingElement>(null);
  const paperRef = useRef<HTMLDivElement>(null);
  const following = useFollowing(paperRef);
  const { fields, server } = doc;
  const writing = generation.isRunning;
  const hasText = fields.content.trim() !== '';
  const waiting = 'Waiting for the first words…';
  // The server's word on where the last passage starts holds for its own text only.
  const passage = useMemo(() => (server && server.content === fields.content ? lastPassageRange(server) : undefined), [server, fields.content]);

  useEffect(() => {
    if (focusOnOpen) headingRef.current?.focus({ preventScroll: true });
  }, [focusOnOpen]);

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
          onUndo={actions.undo}
          onRedo={actions.redo}
          onFlip={actions.flip}
          mode={mode}
          onToggleMode={() => setMode(mode === 'read' ? 'edit' : 'read')}
        >
          <WorkspaceToggles layout={layout} />
        </StudioToolbar>
      </div>
      <StoryNotices sync={sync} doc={doc} generation={generation} actions={actions} idle={idle} canGenerate={canGenerate} lastOnServer={lastOnServer} />
      <div className="story-paper" ref={paperRef}>
        <div className="story-column">
          <h2 id="story-output-heading" ref={headingRef} tabIndex={-1}>
            {fields.title || 'Your story'}
          </h2>
          {mode === 'read' ? (
            <StoryReader text={fields.content} placeholder={writing ? waiting : 'No text yet: press Generate story, or Edit text to write.'} />
          ) : (
            <StoryTextEditor
              text={fields.content}
              onEdit={(content) => sync.edit({ content })}
              onSelect={setSelection}
              readOnly={writing}
              placeholder={writing ? waiting : 'Write here, or press Generate story.'}
              passage={passage}
              following={following}
            />
          )}
        </div>
      </div>
      <StoryStatusBar sync={sync} doc={doc} generation={generation} settings={settings} selection={mode === 'edit' ? selection : null} onDownload={actions.download} />
    </section>
  );
}
