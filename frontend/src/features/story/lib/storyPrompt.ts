import type { ChatCompletionRequest } from '../../../types/api';

export const GENRES = ['fantasy', 'sci-fi', 'mystery', 'romance', 'horror', 'adventure', 'fairy tale'] as const;
export type Genre = (typeof GENRES)[number];

export const GENRE_LABELS: Record<Genre, string> = {
  fantasy: 'Fantasy',
  'sci-fi': 'Sci-fi',
  mystery: 'Mystery',
  romance: 'Romance',
  horror: 'Horror',
  adventure: 'Adventure',
  'fairy tale': 'Fairy tale',
};

/** Token budgets leave room over the word targets so a story can reach its ending. */
export const LENGTHS = {
  short: { label: 'Short', words: 250, maxTokens: 400 },
  medium: { label: 'Medium', words: 600, maxTokens: 900 },
  long: { label: 'Long', words: 1200, maxTokens: 1800 },
} as const;
export type StoryLength = keyof typeof LENGTHS;

export interface StoryIdea {
  premise: string;
  genre: Genre;
  length: StoryLength;
}

const SYSTEM_PROMPT =
  'You are a gifted storyteller. Write one original, complete story from the premise the user gives. ' +
  "Put the story's title alone on the first line, then the story in vivid prose with a satisfying ending. " +
  'Do not add notes, explanations or questions before or after the story.';

/** No `model`: the proxy uses the saved default model. */
export function buildStoryRequest({ premise, genre, length }: StoryIdea): ChatCompletionRequest {
  const { words, maxTokens } = LENGTHS[length];
  return {
    messages: [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: `Genre: ${GENRE_LABELS[genre]}\nLength: about ${words} words\nPremise: ${premise.trim()}` },
    ],
    max_tokens: maxTokens,
    temperature: 0.9,
  };
}
