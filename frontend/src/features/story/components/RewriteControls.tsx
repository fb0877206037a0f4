import { useState } from 'react';
import { READY_INSTRUCTIONS, type ShownProposal } from '../hooks/useRewrite';

interface RewriteControlsProps {
  /** A passage is selected, and nothing runs. */
  canRewrite: boolean;
  proposal: ShownProposal | null;
  onRewrite: (instruction: string) => void;
  onFlip: (index: number) => void;
  /** Why the last rewrite, Accept or Discard failed. */
  error: Error | null;
}

/**
 * "Rewrite" for the selected passage, with the ready instructions and the writer's own; while a
 * proposal waits, which version it shows (version 1 is the passage as it is) and ◀ ▶ between them.
 * Accept, Try again and Discard are on the proposal itself, in the text.
 */
export function RewriteControls({ canRewrite, proposal, onRewrite, onFlip, error }: RewriteControlsProps) {
  const [open, setOpen] = useState(false);
  const [own, setOwn] = useState('');
  const rewrite = (instruction: string) => {
    setOpen(false);
    onRewrite(instruction);
  };
  const problem = error && (
    <span role="alert" className="rewrite-error">
      {error.message}
    </span>
  );
  if (proposal) {
    return (
      <span className="alternatives" data-testid="proposal-versions">
        {problem}
        <button type="button" aria-label="Previous proposal" onClick={() => onFlip(proposal.index - 1)} disabled={proposal.pending || proposal.index === 0}>
          ◀
        </button>
        <span data-testid="proposal-position">
          {proposal.index === 0 ? 'as it was' : `proposal ${proposal.index}`} ({proposal.index + 1}/{proposal.count})
        </span>
        <button type="button" aria-label="Next proposal" onClick={() => onFlip(proposal.index + 1)} disabled={proposal.pending || proposal.index >= proposal.count - 1}>
          ▶
        </button>
      </span>
    );
  }
  return (
    <span className="rewrite-controls">
      {problem}
      <button type="button" onClick={() => setOpen(!open)} disabled={!canRewrite} aria-expanded={open} title="Select a passage, then ask for another version of it" data-testid="rewrite-button">
        Rewrite…
      </button>
      {open && canRewrite && (
        <span className="rewrite-menu" role="group" aria-label="How to rewrite the selection">
          {READY_INSTRUCTIONS.map((instruction) => (
            <button type="button" key={instruction} onClick={() => rewrite(instruction)}>
              {instruction}
            </button>
          ))}
          <form
            onSubmit={(event) => {
              event.preventDefault();
              if (own.trim()) rewrite(own.trim());
            }}
          >
            <input aria-label="Your own instruction" placeholder="Your own instruction" maxLength={500} value={own} onChange={(event) => setOwn(event.target.value)} data-testid="rewrite-instruction" />
            <button type="submit" disabled={!own.trim()}>
              Rewrite
            </button>
          </form>
        </span>
      )}
    </span>
  );
}
