import { useMutation } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { type StreamOrigin, streamChat } from '../api/stream-chat';
import type { ChatCompletionRequest } from '../../../types/api';

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** Streams one story at a time; stopping keeps the text written so far. */
export function useStoryGeneration() {
  const [text, setText] = useState('');
  const [origin, setOrigin] = useState<StreamOrigin | null>(null);
  const controller = useRef<AbortController | null>(null);

  const generation = useMutation({
    mutationFn: (request: ChatCompletionRequest) => {
      const abort = new AbortController();
      controller.current = abort;
      setText('');
      setOrigin(null);
      return streamChat(request, {
        signal: abort.signal,
        onDelta: (delta) => setText((current) => current + delta),
        onOpen: setOrigin,
      });
    },
  });

  // Leaving the page must not leave a model writing for nobody.
  useEffect(() => () => controller.current?.abort(), []);

  const stopped = isAbort(generation.error);
  return {
    text,
    origin,
    generate: generation.mutate,
    stop: () => controller.current?.abort(),
    isWriting: generation.isPending,
    stopped,
    error: stopped ? null : generation.error,
  };
}
