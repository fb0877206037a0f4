import { type FormEvent, useState } from 'react';
import { GENRE_LABELS, GENRES, type Genre, LENGTHS, type StoryIdea, type StoryLength } from '../lib/storyPrompt';

interface StoryFormProps {
  isWriting: boolean;
  /** False when no backend is set up: generating could only fail. */
  canGenerate: boolean;
  onGenerate: (idea: StoryIdea) => void;
  onStop: () => void;
}

export function StoryForm({ isWriting, canGenerate, onGenerate, onStop }: StoryFormProps) {
  const [premise, setPremise] = useState('');
  const [genre, setGenre] = useState<Genre>('fantasy');
  const [length, setLength] = useState<StoryLength>('medium');

  const submit = (event: FormEvent) => {
    event.preventDefault();
    onGenerate({ premise, genre, length });
  };

  return (
    <form className="card story-form" onSubmit={submit}>
      <div className="field">
        <label htmlFor="story-premise">Premise</label>
        <textarea
          id="story-premise"
          rows={4}
          value={premise}
          onChange={(event) => setPremise(event.target.value)}
          placeholder="A lighthouse keeper finds a letter addressed to her, dated a hundred years from now."
          required
          data-testid="story-premise"
        />
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor="story-genre">Genre</label>
          <select id="story-genre" value={genre} onChange={(event) => setGenre(event.target.value as Genre)} data-testid="story-genre">
            {GENRES.map((value) => (
              <option key={value} value={value}>
                {GENRE_LABELS[value]}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="story-length">Length</label>
          <select
            id="story-length"
            value={length}
            onChange={(event) => setLength(event.target.value as StoryLength)}
            data-testid="story-length"
          >
            {Object.entries(LENGTHS).map(([value, { label }]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <div className="actions">
        {isWriting ? (
          <button type="button" className="button-danger" onClick={onStop} data-testid="stop-button">
            Stop
          </button>
        ) : (
          <button
            type="submit"
            className="button-primary"
            disabled={!canGenerate || premise.trim() === ''}
            data-testid="generate-button"
          >
            Generate story
          </button>
        )}
      </div>
    </form>
  );
}
