import type { StoryFields } from '../api/types';
import { GENRE_LABELS, GENRES, type Genre, LENGTHS, type StoryLength } from '../lib/storyPrompt';

function asGenre(value: string): Genre {
  return (GENRES as readonly string[]).includes(value) ? (value as Genre) : 'fantasy';
}

function asLength(value: string): StoryLength {
  return value in LENGTHS ? (value as StoryLength) : 'medium';
}

interface StoryBasicsProps {
  fields: StoryFields;
  onTitleChange: (title: string) => void;
  onPremiseChange: (premise: string) => void;
  onChange: (changes: Pick<StoryFields, 'genre'>) => void;
  /** A length comes with its usual answer size (`max_tokens`). */
  onLengthChange: (length: StoryLength, maxTokens: number) => void;
}

/** The story's title, premise, genre and length. */
export function StoryBasics({ fields, onTitleChange, onPremiseChange, onChange, onLengthChange }: StoryBasicsProps) {
  return (
    <>
      <div className="field">
        <label htmlFor="story-title">Title</label>
        <input
          id="story-title"
          value={fields.title}
          onChange={(event) => onTitleChange(event.target.value)}
          placeholder="Named after the premise until you name it"
          data-testid="story-title"
        />
      </div>
      <div className="field">
        <label htmlFor="story-premise">Premise</label>
        <textarea
          id="story-premise"
          rows={4}
          value={fields.premise}
          onChange={(event) => onPremiseChange(event.target.value)}
          placeholder="A lighthouse keeper finds a letter addressed to her, dated a hundred years from now."
          data-testid="story-premise"
        />
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor="story-genre">Genre</label>
          <select id="story-genre" value={asGenre(fields.genre)} onChange={(event) => onChange({ genre: event.target.value })} data-testid="story-genre">
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
            value={asLength(fields.length)}
            onChange={(event) => {
              const length = asLength(event.target.value);
              onLengthChange(length, LENGTHS[length].maxTokens);
            }}
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
    </>
  );
}
