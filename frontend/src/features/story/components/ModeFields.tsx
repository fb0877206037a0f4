import { type GenerationSettings, type Mode, MODES, type Template, TEMPLATES } from '../lib/generationSettings';

interface ModeFieldsProps {
  settings: GenerationSettings;
  set: (changes: Partial<GenerationSettings>) => void;
  disabled: boolean;
}

/** Chat (instructions and the story in messages) or text completion (the story itself is the prompt), with its template. */
export function ModeFields({ settings, set, disabled }: ModeFieldsProps) {
  const mode = settings.mode ?? 'chat';
  return (
    <div className="field-row">
      <div className="field">
        <label htmlFor="story-mode">Mode</label>
        <select id="story-mode" value={mode} onChange={(event) => set({ mode: event.target.value as Mode })} disabled={disabled}>
          {Object.entries(MODES).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      {mode === 'completion' && (
        <div className="field">
          <label htmlFor="story-template">Template</label>
          <select id="story-template" value={settings.template ?? 'none'} onChange={(event) => set({ template: event.target.value as Template })} disabled={disabled}>
            {Object.entries(TEMPLATES).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
          <span className="muted sampler-note">
            {(settings.template ?? 'none') === 'none'
              ? 'The story is sent as it is, after the memory, lorebook and author\'s note: the model goes on with it.'
              : "The setup goes in the template's turns and the model's turn opens with the story; the template's stop strings are sent."}
          </span>
        </div>
      )}
    </div>
  );
}
