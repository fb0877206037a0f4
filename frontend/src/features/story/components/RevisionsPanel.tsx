import { useEffect, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { formatDateTime } from '../../../lib/format';
import { useRevision, useRevisions } from '../api/revisions';
import type { RevisionSummary } from '../../../types/api';

const REASONS: Record<RevisionSummary['reason'], string> = { edit: 'edit', generation: 'generated', restore: 'restored' };

interface RevisionsPanelProps {
  storyId: number;
  currentRevision: number;
  /** False while a generation runs: the text may not change under it. */
  canRestore: boolean;
  onRestore: (revision: number) => Promise<void>;
}

function RevisionView({ storyId, revision, canRestore, onRestore, onClose }: {
  storyId: number;
  revision: number;
  canRestore: boolean;
  onRestore: (revision: number) => Promise<void>;
  onClose: () => void;
}) {
  const shown = useRevision(storyId, revision);
  const [restoring, setRestoring] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const restore = async () => {
    setRestoring(true);
    setError(null);
    try {
      await onRestore(revision);
      onClose();
    } catch (problem) {
      setError(problem instanceof Error ? problem : new Error(String(problem)));
      setRestoring(false);
    }
  };
  return (
    <article className="revision-view" data-testid="revision-view" aria-busy={shown.isPending}>
      <div className="story-reader-bar">
        <h3>Revision {revision}</h3>
        <button type="button" className="button-secondary" onClick={onClose} data-testid="revision-close">
          Close
        </button>
      </div>
      {shown.error && <ErrorMessage error={shown.error} title="Could not open the revision" onRetry={() => void shown.refetch()} />}
      {shown.data && (
        <>
          <p className="muted">
            {shown.data.title} · {formatDateTime(shown.data.created_at)} · {shown.data.word_count} words
          </p>
          <div className="story-text" data-testid="revision-text">
            {shown.data.content}
          </div>
          <div className="actions">
            <button
              type="button"
              className="button-primary"
              disabled={!canRestore || restoring}
              onClick={() => void restore()}
              data-testid="revision-restore"
            >
              {restoring ? 'Restoring…' : 'Restore this revision'}
            </button>
          </div>
          <p className="muted">The text it replaces stays a revision too.</p>
        </>
      )}
      {error && <ErrorMessage error={error} title="Not restored" />}
    </article>
  );
}

/** The story's saved versions: time, words, why; any one can be read and restored. */
export function RevisionsPanel({ storyId, currentRevision, canRestore, onRestore }: RevisionsPanelProps) {
  const revisions = useRevisions(storyId);
  const [open, setOpen] = useState<number | null>(null);
  const { refetch } = revisions;
  useEffect(() => {
    void refetch();
  }, [currentRevision, refetch]);

  return (
    <details className="card revisions" data-testid="revisions-panel">
      <summary>
        <h2>Revisions</h2>
      </summary>
      {open !== null && (
        <RevisionView storyId={storyId} revision={open} canRestore={canRestore} onRestore={onRestore} onClose={() => setOpen(null)} />
      )}
      {revisions.isPending && <p role="status">Loading the revisions…</p>}
      {revisions.error && <ErrorMessage error={revisions.error} title="Could not load the revisions" onRetry={() => void refetch()} />}
      {revisions.data && (
        <ol className="revision-list">
          {revisions.data.revisions.map((revision) => (
            <li key={revision.revision} className="revision-item" data-testid="revision-item">
              <span>
                <strong>{revision.revision === currentRevision ? 'Current' : `#${revision.revision}`}</strong> ·{' '}
                {formatDateTime(revision.created_at)} · {revision.word_count} words · {REASONS[revision.reason] ?? revision.reason}
              </span>
              <button
                type="button"
                className="button-secondary button-small"
                onClick={() => setOpen(revision.revision)}
                aria-label={`View revision ${revision.revision}`}
                data-testid="revision-open"
              >
                View
              </button>
            </li>
          ))}
        </ol>
      )}
    </details>
  );
}
