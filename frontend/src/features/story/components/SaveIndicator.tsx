import { ApiError } from '../../../lib/api-client';
import type { SaveState } from '../lib/document-sync';

function saveWords(save: SaveState): string {
  switch (save.kind) {
    case 'new':
      return 'Saved as soon as you start writing';
    case 'saved':
      return 'Saved';
    case 'saving':
      return 'Saving...';
    case 'conflict':
      return 'Not saved: this story was changed in another tab or window';
    case 'failed': {
      // The server's hint says what to do (free some space, try again in a moment).
      const hint = save.error instanceof ApiError && save.error.hint ? ` ${save.error.hint}` : '';
      return `Not saved: ${save.error.message}${hint}`;
    }
  }
}

/** "Saved" / "Saving..." / "Not saved: <why>", and only what is true now (one live region, so it is read out). */
export function SaveIndicator({ save, onRetry }: { save: SaveState; onRetry: () => void }) {
  return (
    <div className={`save-status save-status-${save.kind}`} role="status" data-testid="save-status">
      <span>{saveWords(save)}</span>
      {save.kind === 'failed' && (
        <button type="button" className="button-secondary button-small" onClick={onRetry} data-testid="save-retry">
          Retry
        </button>
      )}
    </div>
  );
}
