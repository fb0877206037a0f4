import type { PromptMessage, PromptPart } from '../../../types/api';

const KIND_LABELS: Record<PromptPart['kind'], string> = {
  instruction: 'Instruction',
  template: 'Template',
  memory: 'Memory',
  lorebook: 'Lorebook',
  premise: 'Premise',
  omitted: 'Older text left out',
  story: 'Story text',
  authors_note: "Author's note",
};

const ROLE_LABELS: Record<string, string> = { system: 'System message', user: 'User message', prompt: 'Completion prompt' };

function label(part: PromptPart, omittedChars: number): string {
  if (part.kind === 'lorebook') return `Lorebook: ${part.name ?? ''}`;
  if (part.kind === 'omitted') return `${KIND_LABELS.omitted} (${omittedChars.toLocaleString()} characters)`;
  return KIND_LABELS[part.kind];
}

interface PromptMessagesProps {
  messages: PromptMessage[];
  /** "estimate", or the tokenizer that counted the tokens. */
  tokenizer: string | null;
  omittedChars: number;
}

/** The messages (or the completion prompt) exactly as sent, each part marked with what it is (instructions and template strings unmarked, in grey). */
export function PromptMessages({ messages, tokenizer, omittedChars }: PromptMessagesProps) {
  return (
    <>
      {messages.map((message, index) => (
        <section key={index} aria-label={`${message.role} message`} data-testid="prompt-message">
          <h4>
            {ROLE_LABELS[message.role] ?? message.role}
            {message.tokens !== undefined && tokenizer !== null && (
              <span className="muted">
                {' '}
                — {tokenizer === 'estimate' ? `≈ ${message.tokens.toLocaleString()} tokens (estimated, on the long side)` : `${message.tokens.toLocaleString()} tokens (${tokenizer})`}
              </span>
            )}
          </h4>
          <div className="prompt-message" data-role={message.role}>
            {message.parts.map((part, at) => (
              <span key={at} className="prompt-part" data-kind={part.kind}>
                {part.kind !== 'instruction' && part.kind !== 'template' && (
                  <span className="prompt-part-label" aria-hidden="true" data-label="true">
                    [{label(part, omittedChars)}]
                  </span>
                )}
                <span className="prompt-part-text" data-testid="prompt-part" data-kind={part.kind}>
                  {part.text}
                </span>
              </span>
            ))}
          </div>
        </section>
      ))}
    </>
  );
}
