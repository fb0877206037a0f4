// The generation controls of a story (kept in its `settings`), and the named presets.

export interface GenerationSettings {
  model?: string;
  temperature: number;
  top_p: number;
  max_tokens: number;
  preset?: string;
  /** Keep each generated word's likeliest alternatives and show them on the page. */
  show_probabilities?: boolean;
}

export const PRESETS: Record<string, { label: string; temperature: number; top_p: number }> = {
  focused: { label: 'Focused', temperature: 0.5, top_p: 0.85 },
  balanced: { label: 'Balanced', temperature: 0.8, top_p: 0.95 },
  creative: { label: 'Creative', temperature: 1.1, top_p: 0.98 },
};

export const DEFAULT_SETTINGS: GenerationSettings = { temperature: 0.8, top_p: 0.95, max_tokens: 600, preset: 'balanced' };

function numberIn(value: unknown, min: number, max: number, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max ? value : fallback;
}

/** The story's settings as controls, with defaults for what is missing or out of range. */
export function readSettings(json: string): GenerationSettings {
  let raw: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed && typeof parsed === 'object') raw = parsed as Record<string, unknown>;
  } catch {
    raw = {};
  }
  return {
    model: typeof raw.model === 'string' && raw.model ? raw.model : undefined,
    temperature: numberIn(raw.temperature, 0, 2, DEFAULT_SETTINGS.temperature),
    top_p: numberIn(raw.top_p, 0, 1, DEFAULT_SETTINGS.top_p),
    max_tokens: Math.round(numberIn(raw.max_tokens, 16, 32_000, DEFAULT_SETTINGS.max_tokens)),
    preset: typeof raw.preset === 'string' ? raw.preset : undefined,
    show_probabilities: raw.show_probabilities === true ? true : undefined,
  };
}

/** Settings as stored: keys in a fixed order, so an unchanged value is the same text. */
export function writeSettings(settings: GenerationSettings): string {
  const { model, temperature, top_p, max_tokens, preset, show_probabilities } = settings;
  return JSON.stringify({
    ...(model ? { model } : {}),
    temperature,
    top_p,
    max_tokens,
    ...(preset ? { preset } : {}),
    ...(show_probabilities ? { show_probabilities } : {}),
  });
}

/** The sampler fields of a generation request (no `model`: the saved default stands in). */
export function requestParams(settings: GenerationSettings) {
  return {
    ...(settings.model ? { model: settings.model } : {}),
    temperature: settings.temperature,
    top_p: settings.top_p,
    max_tokens: settings.max_tokens,
  };
}

/** Approximate tokens of a text (4 characters a token, as the server counts). */
export function approximateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
