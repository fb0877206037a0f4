import { Link } from 'react-router-dom';
import { formatDateTime } from '../../../lib/format';
import type { StorySummary } from '../../../types/api';
import { RenameForm } from './RenameForm';

interface LibraryItemProps {
  story: StorySummary;
  /** The story the Story link opens (the one last open). */
  isOpen: boolean;
  renaming: boolean;
  onRename: (renaming: boolean) => void;
  deleting: boolean;
  onDelete: () => void;
}

/** One story in the library: its title, when it was edited, its length and premise; open, rename, delete. */
export function LibraryItem({ story, isOpen, renaming, onRename, deleting, onDelete }: LibraryItemProps) {
  return (
    <li className="library-item" data-testid="library-item" aria-current={isOpen || undefined}>
      <div className="library-item-text">
        {renaming ? <RenameForm story={story} onDone={() => onRename(false)} /> : <h3>{story.title}</h3>}
        <p className="muted">
          {isOpen && (
            <>
              <strong className="open-badge" data-testid="library-open-story">
                Open now
              </strong>{' '}
              ·{' '}
            </>
          )}
          Edited {formatDateTime(story.updated_at)} · {story.word_count} words
          {story.genre && ` · ${story.genre}`}
          {story.generation_status === 'running' && ' · being written…'}
        </p>
        {story.premise && <p className="excerpt">{story.premise}</p>}
      </div>
      <div className="library-item-actions">
        <Link className="link-as-button" to={`/story/${story.id}`} aria-label={`Open “${story.title}”`} data-testid="library-open-button">
          Open
        </Link>
        <button type="button" onClick={() => onRename(true)} aria-label={`Rename “${story.title}”`} data-testid="library-rename-button">
          Rename
        </button>
        <button
          type="button"
          className="button-danger"
          onClick={onDelete}
          disabled={deleting}
          aria-label={`Delete “${story.title}”`}
          data-testid="library-delete-button"
        >
          {deleting ? 'Deleting…' : 'Delete'}
        </button>
      </div>
    </li>
  );
}
