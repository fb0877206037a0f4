import type { ContextBudget } from '../../../types/api';

/** What each part of the prompt costs, and which lorebook entries go (or were left out for their budget). */
function PartCosts({ budget }: { budget: ContextBudget }) {
  const costs = [
    ['Memory', budget.memory_tokens],
    ['Lorebook', budget.lorebook_tokens],
    ['Premise', budget.premise_tokens],
    ["Author's note", budget.authors_note_tokens],
    ['Story text', budget.story_tokens],
  ] as const;
  return (
    <>
      <p className="muted" data-testid="context-parts">
        {costs.map(([name, tokens]) => `${name} ≈ ${tokens.toLocaleString()}`).join(' · ')} tokens
      </p>
      {budget.lorebook.length > 0 && (
        <ul className="muted" aria-label="Lorebook entries" data-testid="context-lorebook">
          {budget.lorebook.map((entry, index) => (
            <li key={`${entry.name}-${index}`}>
              {entry.name || 'Unnamed entry'} (≈ {entry.tokens.toLocaleString()} tokens): {entry.sent ? 'sent' : 'left out: over the lorebook budget'}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

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
      <PartCosts budget={budget} />
      {budget.trimmed && (
        <p className="notice" data-testid="context-trimmed">
          The story is longer than the model's context: its oldest {budget.trimmed_chars.toLocaleString()} characters are left out
          of the prompt. Memory, author's note and premise are always sent.
        </p>
      )}
    </div>
  );
}
