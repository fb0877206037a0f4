import { useState } from 'react';
import type { LLMSettings } from '../../../types/api';
import { useModels, useSamplerNames } from '../../settings';
import { useContextBudget } from '../api/studio';
import type { StoryFields } from '../api/types';
import type { DocumentSnapshot } from '../lib/document-sync';
import { readSettings, writeSettings } from '../lib/generationSettings';
import { BackendStatusLine } from './BackendStatusLine';
import { ContextMeter } from './ContextMeter';
import { GenerationControls } from './GenerationControls';
import { LorebookSection } from './LorebookSection';
import { MemoryFields } from './MemoryFields';
import { PromptView } from './PromptView';
import { StoryBasics } from './StoryBasics';

interface StorySetupFormProps {
  doc: DocumentSnapshot;
  onTitleChange: (title: string) => void;
  onPremiseChange: (premise: string) => void;
  onChange: (changes: Partial<StoryFields>) => void;
  settings: LLMSettings | undefined;
  canGenerate: boolean;
  writing: boolean;
  /** Submitting the form (Enter in the title) writes a new story. */
  onGenerate: () => void;
}

/** What the story is and how it is written: title, premise, genre and length, memory, lorebook, generation settings, the prompt. */
export function StorySetupForm({ doc, onTitleChange, onPremiseChange, onChange, settings, canGenerate, writing, onGenerate }: StorySetupFormProps) {
  const { fields, storyId, revision, save, server } = doc;
  const controls = readSettings(fields.settings);
  const backendType = settings?.backend_type ?? null;
  // The model list is asked for once the generation settings are opened (or a model is chosen).
  const [modelsWanted, setModelsWanted] = useState(() => Boolean(controls.model));
  const models = useModels(backendType ?? '', backendType !== null && modelsWanted);
  // Like the model list, where each sampler goes (and the saved presets) is asked for once the settings are opened.
  const samplers = useSamplerNames(modelsWanted ? backendType : null);
  const nextQuery = { action: 'continue', model: controls.model, maxTokens: controls.max_tokens, contextLength: controls.context_length } as const;
  const budget = useContextBudget(storyId, revision, nextQuery, canGenerate && !writing && save.kind !== 'conflict');

  return (
    <form
      className="story-form"
      onSubmit={(event) => {
        event.preventDefault();
        onGenerate();
      }}
    >
      <StoryBasics
        fields={fields}
        onTitleChange={onTitleChange}
        onPremiseChange={onPremiseChange}
        onChange={onChange}
        onLengthChange={(length, maxTokens) => onChange({ length, settings: writeSettings({ ...controls, max_tokens: maxTokens }) })}
      />
      {!writing && fields.content.trim() !== '' && <p className="muted field-note">Generating writes a new story; this text stays in Revisions.</p>}
      <MemoryFields memory={fields.memory} authorsNote={fields.authors_note} onChange={onChange} />
      <LorebookSection settings={fields.settings} onChange={(next) => onChange({ settings: next })} budget={budget.data} />
      <GenerationControls
        settings={controls}
        onChange={(next) => onChange({ settings: writeSettings(next) })}
        models={models.data}
        defaultModel={settings?.default_model}
        onOpen={() => setModelsWanted(true)}
        disabled={writing}
        samplers={samplers.data}
        opened={modelsWanted}
      />
      <BackendStatusLine />
      <ContextMeter budget={budget.data} error={budget.error} />
      {canGenerate && <PromptView storyId={storyId} query={nextQuery} lastGenerationId={server?.last_generation?.action ? server.last_generation.id : null} />}
    </form>
  );
}
