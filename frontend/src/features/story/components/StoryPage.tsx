import { useState } from 'react';
import { BackendMissingNotice } from './BackendMissingNotice';
import { GenerationError } from './GenerationError';
import { StoryForm } from './StoryForm';
import { StoryLibrary } from './StoryLibrary';
import { type StoryAuthor, StoryOutput } from './StoryOutput';
import { useStoryGeneration } from '../hooks/useStoryGeneration';
import { isBackendType } from '../../../lib/backends';
import { buildStoryRequest, type StoryIdea } from '../lib/storyPrompt';
import type { StreamOrigin } from '../api/stream-chat';
import { useLLMSettings } from '../../settings/api/get-llm-settings';
import type { LLMSettings } from '../../../types/api';

/** The proxy's headers say who wrote it; the saved settings stand in when they are missing (e.g. hidden by CORS). */
function storyAuthor(origin: StreamOrigin | null, settings: LLMSettings | undefined): StoryAuthor {
  const backend = [origin?.backend, settings?.backend_type].find(isBackendType);
  return {
    backendType: backend ?? null,
    model: origin?.model || settings?.default_model || null,
  };
}

export function StoryPage() {
  const settings = useLLMSettings();
  const story = useStoryGeneration();
  const [idea, setIdea] = useState<StoryIdea | null>(null);
  const [generationCount, setGenerationCount] = useState(0);
  const notConfigured = settings.data?.backend_type === null;

  const generate = (next: StoryIdea) => {
    setIdea(next);
    setGenerationCount((count) => count + 1);
    story.generate(buildStoryRequest(next));
  };

  return (
    <div className="page">
      <h1>Write a story</h1>
      {notConfigured && <BackendMissingNotice />}
      <StoryForm isWriting={story.isWriting} canGenerate={!notConfigured} onGenerate={generate} onStop={story.stop} />
      {story.error && <GenerationError error={story.error} />}
      {idea && (story.isWriting || story.text) && (
        // A new key per generation: the save button starts fresh for each story.
        <StoryOutput
          key={generationCount}
          text={story.text}
          premise={idea.premise}
          author={storyAuthor(story.origin, settings.data)}
          isWriting={story.isWriting}
          stopped={story.stopped}
        />
      )}
      <StoryLibrary />
    </div>
  );
}
