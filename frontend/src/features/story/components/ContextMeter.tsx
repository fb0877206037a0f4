import type { ContextBudget } from '../../../types/api';

/** How much of the model's context the next passage uses, and what of the story is left out. */
export function ContextMeter({ budget, error }: { budget: ContextBudget | undefined; error: Error | null }) {
  if (error) {
    return (
      <p className="muted" data-testid="context-meter">
        Context: {error.message}
      </p>
    );
  }
  if (!budget) return null;
  const used = budget.prompt_tokens + budget.max_tokens;
  const source = budget.context_source === 'default' ? 'assumed: the backend does not say' : `from ${budget.context_source}`;
  return (
    <div className="context-meter" data-testid="context-meter">
      <meter min={0} max={budget.context_length} value={Math.min(used, budget.context_length)} aria-label="Context used" />
      <span className="muted">
        Context: ≈ {used.toLocaleString()} of {budget.context_length.toLocaleString()} tokens ({source}; {budget.max_tokens} kept for the answer)
      </span>
      {budget.trimmed && (
        <p className="notice" data-testid="context-trimmed">
          The story is longer than the model's context: its oldest {budget.trimmed_chars.toLocaleString()} characters are left out
          of the prompt. Memory, author's note and premise are always sent.
        </p>
      )}
    </div>
  );
}
