import { useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { KeptPrompt, NextPrompt } from '../../../types/api';
import { getKeptPrompt, getNextPrompt } from '../api/prompt';
import type { BudgetQuery } from '../api/studio';
import { PromptMessages } from './PromptMessages';

interface PromptViewProps {
  storyId: number | null;
  query: BudgetQuery;
  /** The story's last generation, whose prompt can be opened (null: none yet). */
  lastGenerationId: number | null;
}

type Shown = { kind: 'next'; prompt: NextPrompt } | { kind: 'kept'; prompt: KeptPrompt };

/** "Prompt": what the next generation will send, or what the last one sent, each part marked. */
export function PromptView({ storyId, query, lastGenerationId }: PromptViewProps) {
  const [shown, setShown] = useState<Shown | null>(null);
  const [problem, setProblem] = useState<Error | null>(null);
  const load = async (which: 'next' | 'kept') => {
    setProblem(null);
    try {
      if (which === 'next' && storyId !== null) setShown({ kind: 'next', prompt: await getNextPrompt(storyId, query) });
      if (which === 'kept' && lastGenerationId !== null) setShown({ kind: 'kept', prompt: await getKeptPrompt(lastGenerationId) });
    } catch (error) {
      setShown(null);
      setProblem(error instanceof Error ? error : new Error(String(error)));
    }
  };
  return (
    <div className="prompt-view">
      <div className="button-row">
        <button type="button" onClick={() => void load('next')} disabled={storyId === null} aria-expanded={shown?.kind === 'next'}>
          Prompt
        </button>
        {lastGenerationId !== null && (
          <button type="button" onClick={() => void load('kept')} aria-expanded={shown?.kind === 'kept'}>
            Last generation's prompt
          </button>
        )}
        {shown && (
          <button type="button" className="button-secondary" onClick={() => setShown(null)}>
            Hide prompt
          </button>
        )}
      </div>
      {shown && (
        <section aria-label={shown.kind === 'next' ? 'Next prompt' : "Last generation's prompt"} data-testid="prompt-view">
          <p className="muted">
            {shown.kind === 'next'
              ? `What the next generation will send${shown.prompt.model ? ` to ${shown.prompt.model}` : ''}.`
              : `What generation ${shown.prompt.generation_id} sent${shown.prompt.model ? ` to ${shown.prompt.model}` : ''}.`}
          </p>
          {shown.kind === 'next' && shown.prompt.mode === 'completion' && (
            <p className="muted" data-testid="prompt-template">
              Text completion, template {shown.prompt.template === 'none' ? 'none (raw)' : shown.prompt.template}
              {shown.prompt.template_stop.length > 0 ? `; its stop strings: ${shown.prompt.template_stop.map((stop) => JSON.stringify(stop)).join(', ')}` : ''}.
            </p>
          )}
          <PromptMessages
            messages={shown.prompt.messages}
            tokenizer={shown.kind === 'next' ? shown.prompt.tokenizer : null}
            omittedChars={shown.prompt.context.trimmed_chars}
          />
        </section>
      )}
      {problem && <ErrorMessage error={problem} title="Could not show the prompt" />}
    </div>
  );
}
