import { ErrorMessage } from '../../../components/ErrorMessage';
import type { Generation } from '../../../types/api';
import type { useStoryActions } from '../hooks/useStoryActions';
import type { GenerationView } from '../hooks/useStoryGeneration';
import type { DocumentSnapshot, DocumentSync } from '../lib/document-sync';
import { GenerationNotice } from './GenerationNotice';
import { SaveNotices } from './SaveNotices';

interface StoryNoticesProps {
  sync: DocumentSync;
  doc: DocumentSnapshot;
  generation: GenerationView & { isRunning: boolean };
  actions: ReturnType<typeof useStoryActions>;
  idle: boolean;
  canGenerate: boolean;
  lastOnServer: Generation | null;
}

/** What the writer should know above the text: a save conflict, how the last generation ended, a failure, the model's reasoning. */
export function StoryNotices({ sync, doc, generation, actions, idle, canGenerate, lastOnServer }: StoryNoticesProps) {
  const writing = generation.isRunning;
  const lengthStop = !writing && (generation.end ? generation.end.finishReason === 'length' : doc.server?.last_generation?.finish_reason === 'length');
  return (
    <div className="story-notices">
      <SaveNotices sync={sync} save={doc.save} />
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
      {generation.reasoning && (
        <details className="story-thinking" data-testid="story-thinking">
          <summary>Thinking...</summary>
          <div className="story-text muted">{generation.reasoning}</div>
        </details>
      )}
    </div>
  );
}
