import { useState } from 'react';
import type { LLMSettings, Story } from '../../../types/api';
import { useRewrite } from '../hooks/useRewrite';
import { useStoryActions } from '../hooks/useStoryActions';
import type { TextRange } from '../lib/editor/marks';
import { useStoryDocument } from '../hooks/useStoryDocument';
import { useStoryGeneration } from '../hooks/useStoryGeneration';
import { useStoryShortcuts } from '../hooks/useStoryShortcuts';
import { useWorkspaceLayout } from '../hooks/useWorkspaceLayout';
import { RevisionsPanel } from './RevisionsPanel';
import { StoryMain } from './StoryMain';
import { StorySetupForm } from './StorySetupForm';
import { StorySetupPanel } from './StorySetupPanel';

interface StoryEditorProps {
  /** The story as loaded, or null for a new one (created on the server at the first words). */
  initial: Story | null;
  settings: LLMSettings | undefined;
  canGenerate: boolean;
  onCreated: (story: Story) => void;
}

/** One story being written: the text and its tools in the main area, the story's setup and revisions in a side panel. */
export function StoryEditor({ initial, settings, canGenerate, onCreated }: StoryEditorProps) {
  const { sync, doc, editTitle, editPremise } = useStoryDocument(initial, onCreated);
  // The story as opened: a later copy of it (a refetch) must not re-attach a second time.
  const [opened] = useState(initial);
  const generation = useStoryGeneration(sync, opened);
  const actions = useStoryActions(sync, generation);
  const layout = useWorkspaceLayout(Boolean(opened?.content));
  const { storyId, revision, fields, save, server } = doc;
  const writing = generation.isRunning;
  const [selection, setSelection] = useState<TextRange | null>(null);
  const rewrite = useRewrite(sync, server, fields.content, generation);
  // A rewrite's proposal waits for Accept or Discard: nothing else changes the text meanwhile.
  const idle = !writing && !actions.busy && save.kind !== 'conflict' && rewrite.shown === null;
  const hasText = fields.content.trim() !== '';
  const canUndo = Boolean(server?.history?.can_undo) || sync.hasUnsavedChanges();
  const writeHere = () => void actions.writeHere(selection?.to ?? fields.content.length);

  useStoryShortcuts({
    writeOn: () => void actions.generate(hasText ? 'continue' : 'new'),
    writeHere: hasText ? writeHere : null,
    stop: () => void generation.stop(),
    undo: actions.undo,
    redo: actions.redo,
    leaveFocusMode: layout.focusMode ? layout.leaveFocusMode : null,
    idle,
    writing,
    canGenerate,
  });

  return (
    <div className="workspace" data-setup={layout.setupOpen ? 'open' : 'closed'}>
      <StoryMain
        sync={sync}
        doc={doc}
        generation={generation}
        actions={actions}
        settings={settings}
        canGenerate={canGenerate}
        idle={idle}
        canUndo={canUndo}
        focusOnOpen={Boolean(opened?.content)}
        lastOnServer={opened?.last_generation ?? null}
        layout={layout}
        selection={selection}
        onSelect={setSelection}
        onWriteHere={writeHere}
        rewrite={rewrite}
      />
      <StorySetupPanel open={layout.setupOpen} onClose={layout.closeSetup}>
        <StorySetupForm
          doc={doc}
          onTitleChange={editTitle}
          onPremiseChange={editPremise}
          onChange={(changes) => sync.edit(changes)}
          settings={settings}
          canGenerate={canGenerate}
          writing={writing}
          onGenerate={() => void actions.generate('new')}
        />
        {storyId !== null && <RevisionsPanel storyId={storyId} currentRevision={revision} canRestore={!writing} onRestore={actions.restore} />}
      </StorySetupPanel>
    </div>
  );
}
