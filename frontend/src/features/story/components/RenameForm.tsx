import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { StorySummary } from '../../../types/api';
import { storiesQueryOptions } from '../api/get-stories';
import { storyQueryOptions } from '../api/get-story';
import { updateStory } from '../api/update-story';

/** One library entry's title, renamed in place. */
export function RenameForm({ story, onDone }: { story: StorySummary; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [title, setTitle] = useState(story.title);
  const [error, setError] = useState<Error | null>(null);
  const save = async () => {
    if (!title.trim() || title.trim() === story.title) return onDone();
    try {
      await updateStory(story.id, { base_revision: story.revision, title: title.trim() });
      await queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
      await queryClient.invalidateQueries({ queryKey: storyQueryOptions(story.id).queryKey });
      onDone();
    } catch (problem) {
      setError(problem instanceof Error ? problem : new Error(String(problem)));
    }
  };
  return (
    <form
      className="rename-form"
      onSubmit={(event) => {
        event.preventDefault();
        void save();
      }}
    >
      <label htmlFor={`rename-${story.id}`} className="visually-hidden">
        New title of “{story.title}”
      </label>
      <input
        id={`rename-${story.id}`}
        value={title}
        onChange={(event) => setTitle(event.target.value)}
        onKeyDown={(event) => event.key === 'Escape' && onDone()}
        autoFocus
        data-testid="library-rename-input"
      />
      <button type="submit" data-testid="library-rename-save">
        Save
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
      {error && <ErrorMessage error={error} title="Could not rename the story" />}
    </form>
  );
}
