// The generation controls of a story (kept in its `settings`), and the named presets.

/** The samplers a writer may leave unset: the backend's own default then applies (nothing is sent). */
export interface OptionalSamplers {
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  stop?: string[];
  /** The model's context size in tokens (Ollama: num_ctx). */
  context_length?: number;
}

export const MODES = { chat: 'Chat', completion: 'Text completion' } as const;
export const TEMPLATES = { none: 'None (raw)', chatml: 'ChatML', llama3: 'Llama 3', mistral: 'Mistral', alpaca: 'Alpaca', gemma: 'Gemma', model: "The model's own (llama.cpp)" } as const;
export type Mode = keyof typeof MODES;
export type Template = keyof typeof TEMPLATES;

export interface GenerationSettings extends OptionalSamplers {
  model?: string;
  /** Chat (the default), or text completion: the story itself is the prompt. */
  mode?: Mode;
  template?: Template;
  temperature: number;
  top_p: number;
  max_tokens: number;
  preset?: string;
  /** The story's lorebook, carried through as it is (lorebook.ts edits it). */
  lorebook?: unknown;
  /** Keep each generated word's likeliest alternatives and show them on the page. */
  show_probabilities?: boolean;
}

/** Each optional sampler's range and whether it is a whole number. */
export const SAMPLER_RANGES: Record<Exclude<keyof OptionalSamplers, 'stop'>, { min: number; max: number; step: number; integer: boolean }> = {
  top_k: { min: 0, max: 1000, step: 1, integer: true },
  min_p: { min: 0, max: 1, step: 0.01, integer: false },
  repetition_penalty: { min: 0, max: 3, step: 0.01, integer: false },
  presence_penalty: { min: -2, max: 2, step: 0.05, integer: false },
  frequency_penalty: { min: -2, max: 2, step: 0.05, integer: false },
  seed: { min: 0, max: 2 ** 31 - 1, step: 1, integer: true },
  context_length: { min: 256, max: 1_048_576, step: 256, integer: true },
};

export const PRESETS: Record<string, { label: string; temperature: number; top_p: number }> = {
  focused: { label: 'Focused', temperature: 0.5, top_p: 0.85 },
  balanced: { label: 'Balanced', temperature: 0.8, top_p: 0.95 },
  creative: { label: 'Creative', temperature: 1.1, top_p: 0.98 },
};

export const DEFAULT_SETTINGS: GenerationSettings = { temperature: 0.8, top_p: 0.95, max_tokens: 600, preset: 'balanced' };

function numberIn(value: unknown, min: number, max: number, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max ? value : fallback;
}

/** A sampler's value when it is a number within its range (a whole one where it must be), else unset. */
export function samplerValue(name: keyof typeof SAMPLER_RANGES, value: unknown): number | undefined {
  const range = SAMPLER_RANGES[name];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < range.min || value > range.max) return undefined;
  return range.integer && !Number.isInteger(value) ? undefined : value;
}

function optionalSamplers(raw: Record<string, unknown>): OptionalSamplers {
  const samplers: OptionalSamplers = {};
  for (const name of Object.keys(SAMPLER_RANGES) as (keyof typeof SAMPLER_RANGES)[]) {
    const value = samplerValue(name, raw[name]);
    if (value !== undefined) samplers[name] = value;
  }
  const stop = Array.isArray(raw.stop) ? raw.stop.filter((item): item is string => typeof item === 'string' && item !== '') : [];
  if (stop.length > 0) samplers.stop = stop.slice(0, 4);
  return samplers;
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
    mode: typeof raw.mode === 'string' && raw.mode in MODES ? (raw.mode as Mode) : undefined,
    template: typeof raw.template === 'string' && raw.template in TEMPLATES ? (raw.template as Template) : undefined,
    ...optionalSamplers(raw),
    lorebook: raw.lorebook && typeof raw.lorebook === 'object' ? raw.lorebook : undefined,
    show_probabilities: raw.show_probabilities === true ? true : undefined,
  };
}

/** Settings as stored: keys in a fixed order, so an unchanged value is the same text. */
export function writeSettings(settings: GenerationSettings): string {
  const { model, temperature, top_p, max_tokens, preset, mode, template, lorebook, show_probabilities } = settings;
  return JSON.stringify({
    ...(model ? { model } : {}),
    temperature,
    top_p,
    max_tokens,
    ...(preset ? { preset } : {}),
    ...(mode ? { mode } : {}),
    ...(template ? { template } : {}),
    ...optionalSamplers(settings as unknown as Record<string, unknown>),
    ...(lorebook ? { lorebook } : {}),
    ...(show_probabilities ? { show_probabilities } : {}),
  });
}

/** The sampler fields of a generation request (no `model`: the saved default stands in); an unset one is not sent. */
export function requestParams(settings: GenerationSettings) {
  return {
    ...(settings.model ? { model: settings.model } : {}),
    temperature: settings.temperature,
    top_p: settings.top_p,
    max_tokens: settings.max_tokens,
    ...optionalSamplers(settings as unknown as Record<string, unknown>),
  };
}

/** The samplers of the settings, as a preset keeps them. */
export function presetOf(settings: GenerationSettings): Record<string, number | string[]> {
  const { temperature, top_p, max_tokens } = settings;
  return { temperature, top_p, max_tokens, ...optionalSamplers(settings as unknown as Record<string, unknown>) };
}

/** The settings with a preset's samplers in place of theirs (model, mode, template and lorebook kept). */
export function withPreset(settings: GenerationSettings, preset: Record<string, unknown>): GenerationSettings {
  const { model, mode, template, lorebook } = settings;
  return { ...readSettings(JSON.stringify(preset)), preset: undefined, model, mode, template, lorebook };
}

/** Approximate tokens of a text (4 characters a token, as the server counts). */
export function approximateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
