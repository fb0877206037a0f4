import { type ChangeEvent, useRef, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { usePresetActions, usePresets } from '../../settings';
import { type GenerationSettings, presetOf, withPreset } from '../lib/generationSettings';
import { saveTextFile } from '../lib/save-file';

interface PresetManagerProps {
  settings: GenerationSettings;
  onApply: (settings: GenerationSettings) => void;
  disabled: boolean;
  /** Asked for the saved presets (once the settings are opened). */
  wanted: boolean;
}

/** The user's saved sampler presets (kept on the server): save these settings as one, apply, rename, delete, export, import. */
export function PresetManager({ settings, onApply, disabled, wanted }: PresetManagerProps) {
  const presets = usePresets(wanted);
  const actions = usePresetActions();
  const [chosenId, setChosenId] = useState<number | null>(null);
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<Error | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const list = presets.data?.presets ?? [];
  const chosen = list.find((preset) => preset.id === chosenId) ?? null;
  const run = (call: () => Promise<unknown>) => {
    setProblem(null);
    call().catch((error: unknown) => setProblem(error instanceof Error ? error : new Error(String(error))));
  };
  const importFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    let parsed: { presets?: unknown };
    try {
      parsed = JSON.parse(await file.text()) as { presets?: unknown };
    } catch {
      throw new Error(`${file.name} is not a presets export (it is not JSON).`);
    }
    await actions.importAll(parsed.presets);
  };
  return (
    <fieldset className="preset-manager" disabled={disabled}>
      <legend>Saved presets</legend>
      <div className="field-row">
        <div className="field">
          <label htmlFor="saved-preset">Saved preset</label>
          <select id="saved-preset" value={chosenId ?? ''} onChange={(event) => setChosenId(event.target.value ? Number(event.target.value) : null)}>
            <option value="">—</option>
            {list.map((preset) => (
              <option key={preset.id} value={preset.id}>
                {preset.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="preset-name">Preset name</label>
          <input id="preset-name" value={name} maxLength={80} onChange={(event) => setName(event.target.value)} />
        </div>
      </div>
      <div className="button-row">
        <button type="button" disabled={!chosen} onClick={() => chosen && onApply(withPreset(settings, chosen.settings))}>
          Apply preset
        </button>
        <button type="button" disabled={!name.trim()} onClick={() => run(async () => setChosenId((await actions.save(name.trim(), presetOf(settings))).id))}>
          Save as preset
        </button>
        <button type="button" disabled={!chosen || !name.trim()} onClick={() => chosen && run(() => actions.rename(chosen.id, name.trim()))}>
          Rename preset
        </button>
        <button type="button" disabled={!chosen} onClick={() => chosen && run(async () => (await actions.remove(chosen.id), setChosenId(null)))}>
          Delete preset
        </button>
        <button type="button" disabled={list.length === 0} onClick={() => saveTextFile(JSON.stringify({ presets: list.map(({ name: n, settings: s }) => ({ name: n, settings: s })) }, null, 2), 'taleweaver-presets.json')}>
          Export presets
        </button>
        <button type="button" onClick={() => fileRef.current?.click()}>
          Import presets
        </button>
      </div>
      <input ref={fileRef} type="file" accept="application/json,.json" hidden aria-label="Presets file" onChange={(event) => run(() => importFile(event))} />
      {problem && <ErrorMessage error={problem} title="That did not work" />}
    </fieldset>
  );
}
