import { useState } from 'react';
import type { SamplerName, SamplerReport } from '../../../types/api';
import { type GenerationSettings, SAMPLER_RANGES, samplerValue } from '../lib/generationSettings';

type Numeric = keyof typeof SAMPLER_RANGES;

const LABELS: Record<Numeric, string> = {
  top_k: 'Top k',
  min_p: 'Min p',
  repetition_penalty: 'Repetition penalty',
  presence_penalty: 'Presence penalty',
  frequency_penalty: 'Frequency penalty',
  seed: 'Seed',
  context_length: 'Context size (tokens)',
};

/** "not sent to <backend>" beside a setting the active backend cannot take (with why), or what to know when it is sent. */
export function SamplerNote({ name, report }: { name: SamplerName; report: SamplerReport | undefined }) {
  const entry = report?.samplers.find((sampler) => sampler.name === name);
  if (!report || !entry) return null;
  if (entry.sent_as === null) {
    return (
      <span className="muted sampler-note" data-testid={`not-sent-${name}`}>
        not sent to {report.server}
        {entry.note ? `: ${entry.note}` : ''}
      </span>
    );
  }
  return entry.note ? <span className="muted sampler-note">{entry.note}</span> : null;
}

interface SamplerFieldsProps {
  settings: GenerationSettings;
  set: (changes: Partial<GenerationSettings>) => void;
  report: SamplerReport | undefined;
  disabled: boolean;
}

/** The samplers a writer may set or leave empty (the backend's default), each with what the active backend does with it. */
export function SamplerFields({ settings, set, report, disabled }: SamplerFieldsProps) {
  // The stop strings as typed while the field has focus.
  const [typedStops, setTypedStops] = useState<string | null>(null);
  const field = (name: Numeric) => {
    const range = SAMPLER_RANGES[name];
    return (
      <div className="field" key={name}>
        <label htmlFor={`story-${name}`}>{LABELS[name]}</label>
        <input
          id={`story-${name}`}
          type="number"
          min={range.min}
          max={range.max}
          step={range.step}
          placeholder="backend's default"
          value={settings[name] ?? ''}
          onChange={(event) => {
            const typed = event.target.value;
            const value = typed === '' ? undefined : samplerValue(name, Number(typed));
            if (typed === '' || value !== undefined) set({ [name]: value, preset: undefined });
          }}
          disabled={disabled}
        />
        <SamplerNote name={name} report={report} />
      </div>
    );
  };
  return (
    <>
      {report && !report.recognised && (
        <p className="muted field-note">This OpenAI-compatible server was not recognised as llama.cpp, vLLM or KoboldCpp: it is sent llama.cpp's names.</p>
      )}
      <div className="field-row">{(['top_k', 'min_p', 'repetition_penalty'] as const).map(field)}</div>
      <div className="field-row">{(['presence_penalty', 'frequency_penalty', 'seed'] as const).map(field)}</div>
      <div className="field">
        <label htmlFor="story-stop">Stop strings</label>
        <input
          id="story-stop"
          value={typedStops ?? (settings.stop ?? []).join(', ')}
          placeholder="Comma-separated, up to 4"
          onFocus={() => setTypedStops((settings.stop ?? []).join(', '))}
          onBlur={() => setTypedStops(null)}
          onChange={(event) => {
            setTypedStops(event.target.value);
            const stops = event.target.value.split(',').map((stop) => stop.trim()).filter(Boolean).slice(0, 4);
            set({ stop: stops.length > 0 ? stops : undefined });
          }}
          disabled={disabled}
        />
        <SamplerNote name="stop" report={report} />
      </div>
      {field('context_length')}
    </>
  );
}
