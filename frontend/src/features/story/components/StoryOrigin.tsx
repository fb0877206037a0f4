import type { LLMSettings } from '../../../types/api';
import { useBackendLabel } from '../../settings';
import type { GenerationOrigin } from '../hooks/useStoryGeneration';

interface StoryOriginProps {
  writing: boolean;
  words: number;
  /** Who wrote the last generation this page saw, as the server said. */
  origin: GenerationOrigin | null;
  settings: LLMSettings | undefined;
}

/** The story's length, and which backend and model write or wrote it. */
export function StoryOrigin({ writing, words, origin, settings }: StoryOriginProps) {
  const backendLabel = useBackendLabel();
  // The server says who wrote it; the saved settings stand in for what it did not say.
  const backend = origin?.backend || settings?.backend_type;
  const model = origin?.model || settings?.default_model;
  const parts = [backend && backendLabel(backend), model].filter(Boolean);
  const author = parts.length ? parts.join(' · ') : 'the configured backend';
  return (
    <p className="muted" data-testid="story-origin">
      {writing ? `Writing with ${author}…` : `${words} words`}
      {!writing && origin && ` · written by ${author}`}
    </p>
  );
}
