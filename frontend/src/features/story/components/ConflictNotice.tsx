import { useState } from 'react';
import { Link } from 'react-router-dom';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { Story } from '../../../types/api';
import type { StoryFields } from '../api/types';

interface ConflictNoticeProps {
  theirs: Story;
  onReloadTheirs: () => Promise<void>;
  onKeepBoth: () => Promise<void>;
}

/** Another tab saved first: nothing was overwritten, and the user chooses what happens to the two versions. */
export function ConflictNotice({ theirs, onReloadTheirs, onKeepBoth }: ConflictNoticeProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const choose = (action: () => Promise<void>) => async () => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (problem) {
      setError(problem instanceof Error ? problem : new Error(String(problem)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="notice notice-warning" role="alert" data-testid="conflict-notice">
      <p>
        <strong>This story was changed in another tab or window</strong> (revision {theirs.revision}), so your changes here were
        not saved over it. Nothing is lost: choose which version to keep.
      </p>
      <div className="actions">
        <button type="button" className="button-secondary" disabled={busy} onClick={choose(onReloadTheirs)} data-testid="conflict-reload">
          Reload theirs
        </button>
        <button type="button" className="button-primary" disabled={busy} onClick={choose(onKeepBoth)} data-testid="conflict-keep-both">
          Keep both
        </button>
      </div>
      <p className="muted">“Keep both” saves your version as a new story and shows theirs here.</p>
      {error && <ErrorMessage error={error} title="That did not work" />}
    </div>
  );
}

interface SetAsideNoticeProps {
  mine: StoryFields;
  onSaveAsNew: () => Promise<Story>;
  onDismiss: () => void;
}

/** After "Reload theirs": the version this page had, still at hand until the user lets it go. */
export function SetAsideNotice({ mine, onSaveAsNew, onDismiss }: SetAsideNoticeProps) {
  const [saved, setSaved] = useState<Story | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      setSaved(await onSaveAsNew());
    } catch (problem) {
      setError(problem instanceof Error ? problem : new Error(String(problem)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="notice" role="status" data-testid="set-aside-notice">
      {saved ? (
        <p>
          Your version is saved as <Link to={`/story/${saved.id}`}>“{saved.title}”</Link>.
        </p>
      ) : (
        <>
          <p>The other version is shown now. Yours is kept here until you let it go:</p>
          <details>
            <summary>Your version ({mine.content.length} characters)</summary>
            <div className="story-text">{mine.content}</div>
          </details>
          <div className="actions">
            <button type="button" className="button-secondary" disabled={busy} onClick={() => void save()} data-testid="set-aside-save">
              Save mine as a new story
            </button>
            <button type="button" className="button-secondary" onClick={onDismiss} data-testid="set-aside-dismiss">
              Let it go
            </button>
          </div>
        </>
      )}
      {error && <ErrorMessage error={error} title="Not saved" />}
    </div>
  );
}
