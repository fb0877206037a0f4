import type { ModelsResponse, SamplerReport } from '../../../types/api';
import { PRESETS, type GenerationSettings } from '../lib/generationSettings';
import { ModeFields } from './ModeFields';
import { PresetManager } from './PresetManager';
import { SamplerFields, SamplerNote } from './SamplerFields';

interface GenerationControlsProps {
  settings: GenerationSettings;
  onChange: (settings: GenerationSettings) => void;
  models: ModelsResponse | undefined;
  defaultModel: string | null | undefined;
  /** The panel was opened: time to ask for the model list. */
  onOpen: () => void;
  disabled: boolean;
  /** Where the active backend takes each setting (null: not known yet). */
  samplers: SamplerReport | undefined;
  /** The settings were opened: the saved presets are asked for. */
  opened: boolean;
}

/** Model and every sampler of this story's generations (each marked where the backend cannot take it), and named presets. */
export function GenerationControls({ settings, onChange, models, defaultModel, onOpen, disabled, samplers, opened }: GenerationControlsProps) {
  const set = (changes: Partial<GenerationSettings>) => onChange({ ...settings, ...changes });
  const ids = models?.models ?? [];
  const chosen = settings.model ?? '';
  return (
    <details className="studio-controls" onToggle={(event) => event.currentTarget.open && onOpen()} data-testid="generation-controls">
      <summary>Generation settings</summary>
      <ModeFields settings={settings} set={set} disabled={disabled} />
      <div className="field">
        <label htmlFor="story-model">Model</label>
        <select id="story-model" value={chosen} onChange={(event) => set({ model: event.target.value || undefined })} disabled={disabled} data-testid="story-model">
          <option value="">Default{defaultModel ? ` (${defaultModel})` : ''}</option>
          {chosen && !ids.includes(chosen) && <option value={chosen}>{chosen} (not listed now)</option>}
          {ids.map((id) => (
            <option key={id} value={id}>
              {id}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <span className="field-label" id="story-preset-label">
          Preset
        </span>
        <div className="preset-buttons" role="group" aria-labelledby="story-preset-label">
          {Object.entries(PRESETS).map(([name, preset]) => (
            <button
              key={name}
              type="button"
              aria-pressed={settings.preset === name}
              onClick={() => set({ preset: name, temperature: preset.temperature, top_p: preset.top_p })}
              disabled={disabled}
              data-testid={`preset-${name}`}
            >
              {preset.label}
            </button>
          ))}
        </div>
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor="story-temperature">Temperature ({settings.temperature.toFixed(2)})</label>
          <input
            id="story-temperature"
            type="range"
            min={0}
            max={2}
            step={0.05}
            value={settings.temperature}
            onChange={(event) => set({ temperature: Number(event.target.value), preset: undefined })}
            disabled={disabled}
            data-testid="story-temperature"
          />
          <SamplerNote name="temperature" report={samplers} />
        </div>
        <div className="field">
          <label htmlFor="story-top-p">Top p ({settings.top_p.toFixed(2)})</label>
          <input
            id="story-top-p"
            type="range"
            min={0}
            max={1}
            step={0.01}
            value={settings.top_p}
            onChange={(event) => set({ top_p: Number(event.target.value), preset: undefined })}
            disabled={disabled}
            data-testid="story-top-p"
          />
          <SamplerNote name="top_p" report={samplers} />
        </div>
        <div className="field">
          <label htmlFor="story-max-tokens">Max tokens</label>
          <input
            id="story-max-tokens"
            type="number"
            min={16}
            max={32000}
            step={16}
            value={settings.max_tokens}
            onChange={(event) => {
              const value = Math.round(Number(event.target.value));
              if (value >= 16 && value <= 32000) set({ max_tokens: value });
            }}
            disabled={disabled}
            data-testid="story-max-tokens"
          />
          <SamplerNote name="max_tokens" report={samplers} />
        </div>
      </div>
      <div className="field">
        <label>
          <input
            type="checkbox"
            checked={settings.show_probabilities === true}
            onChange={(event) => set({ show_probabilities: event.target.checked || undefined })}
            disabled={disabled}
            data-testid="story-show-probabilities"
          />{' '}
          Show probabilities
        </label>
      </div>
      <SamplerFields settings={settings} set={set} report={samplers} disabled={disabled} />
      <PresetManager settings={settings} onApply={onChange} disabled={disabled} wanted={opened} />
    </details>
  );
}
