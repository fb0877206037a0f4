import { useEffect, useState } from 'react';
import type { GenerationStats } from '../../../types/api';

const LOADING_HINT_MS = 4000;

/** While a generation runs: the time since it started, and a word when the first token is slow. */
export function GenerationProgress({ startedAt, firstTextAt }: { startedAt: number | null; firstTextAt: number | null }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, []);
  if (startedAt === null) return null;
  const seconds = Math.max(0, (now - startedAt) / 1000);
  const waiting = firstTextAt === null;
  return (
    <span className="muted generation-progress" role="status" data-testid="generation-progress">
      {seconds.toFixed(1)} s
      {waiting && now - startedAt >= LOADING_HINT_MS && ' · waiting for the first token — the model may be loading…'}
    </span>
  );
}

/** Tokens, speed, time to first token and elapsed time of the last generation. */
export function GenerationStatsLine({ stats }: { stats: GenerationStats | undefined }) {
  if (!stats) return null;
  const parts = [
    stats.completion_tokens !== null && `${stats.completion_tokens} tokens${stats.tokens_source === 'counted' ? ' (counted)' : ''}`,
    stats.tokens_per_second !== null && `${stats.tokens_per_second.toFixed(1)} tokens/s`,
    stats.time_to_first_token_ms !== null && `first token after ${(stats.time_to_first_token_ms / 1000).toFixed(2)} s`,
    `${(stats.elapsed_ms / 1000).toFixed(1)} s in all`,
  ].filter(Boolean);
  return (
    <p className="muted" data-testid="generation-stats">
      Last generation: {parts.join(' · ')}
    </p>
  );
}
