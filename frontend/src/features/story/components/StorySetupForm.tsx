import { useState } from 'react';
import type { LLMSettings } from '../../../types/api';
import { useModels } from '../../settings';
import { useContextBudget } from '../api/studio';
import type { DocumentSnapshot, DocumentSync } from '../lib/document-sync';
import { readSettings, writeSettings } from '../lib/generationSettings';
import { BackendStatusLine } from './BackendStatusLine';
import { ContextMeter } from './ContextMeter';
import { GenerationControls } from './GenerationControls';
import { MemoryFields } from './MemoryFields';
import { SaveNotices } from './SaveNotices';
import { StoryBasics } from './StoryBasics';

interface StorySetupFormProps {
  sync: DocumentSync;
  doc: DocumentSnapshot;
  onTitleChange: (title: string) => void;
  onPremiseChange: (premise: string) => void;
  settings: LLMSettings | undefined;
  canGenerate: boolean;
  writing: boolean;
  /** Submitting the form (Enter in the title) writes a new story. */
  onGenerate: () => void;
}

/** What the story is and how it is written: title, premise, genre and length, memory, generation settings. */
export function StorySetupForm({ sync, doc, onTitleChange, onPremiseChange, settings, canGenerate, writing, onGenerate }: StorySetupFormProps) {
  const { fields, storyId, revision, save } = doc;
  const controls = readSettings(fields.settings);
  const backendType = settings?.backend_type ?? null;
  // The model list is asked for once the generation settings are opened (or a model is chosen).
  const [modelsWanted, setModelsWanted] = useState(() => Boolean(controls.model));
  const models = useModels(backendType ?? '', backendType !== null && modelsWanted);
  const budget = useContextBudget(
    storyId,
    revision,
    { action: 'continue', model: controls.model, maxTokens: controls.max_tokens },
    canGenerate && !writing && save.kind !== 'conflict',
  );

  return (
    <form
      className="card story-form"
      onSubmit={(event) => {
        event.preventDefault();
        onGenerate();
      }}
    >
      <SaveNotices sync={sync} save={save} />
      <StoryBasics
        fields={fields}
        onTitleChange={onTitleChange}
        onPremiseChange={onPremiseChange}
        onChange={(changes) => sync.edit(changes)}
        onLengthChange={(length, maxTokens) => sync.edit({ length, settings: writeSettings({ ...controls, max_tokens: maxTokens }) })}
      />
      <MemoryFields memory={fields.memory} authorsNote={fields.authors_note} onChange={(changes) => sync.edit(changes)} />
      <GenerationControls
        settings={controls}
        onChange={(next) => sync.edit({ settings: writeSettings(next) })}
        models={models.data}
        defaultModel={settings?.default_model}
        onOpen={() => setModelsWanted(true)}
        disabled={writing}
      />
      <BackendStatusLine />
      <ContextMeter budget={budget.data} error={budget.error} />
    </form>
  );
}
