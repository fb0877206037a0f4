import type { SaveState } from '../lib/document-sync';

/** "Saved" / "Saving..." / "Not saved: <why>", and only what is true now. */
export function SaveIndicator({ save, onRetry }: { save: SaveState; onRetry: () => void }) {
  if (save.kind === 'new') {
    return (
      <p className="save-status muted" role="status" data-testid="save-status">
        Saved as soon as you start writing
      </p>
    );
  }
  if (save.kind === 'saved' || save.kind === 'saving') {
    return (
      <p className={`save-status save-status-${save.kind}`} role="status" data-testid="save-status">
        {save.kind === 'saved' ? 'Saved' : 'Saving...'}
      </p>
    );
  }
  const why = save.kind === 'conflict' ? 'this story was changed in another tab or window' : save.error.message;
  return (
    <div className="save-status save-status-failed" role="status" data-testid="save-status">
      <span>Not saved: {why}</span>
      {save.kind === 'failed' && (
        <button type="button" className="button-secondary button-small" onClick={onRetry} data-testid="save-retry">
          Retry
        </button>
      )}
    </div>
  );
}
