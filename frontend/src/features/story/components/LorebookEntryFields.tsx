import { useState } from 'react';
import { type Entry, LOREBOOK_LIMITS } from '../lib/lorebookLimits';
import { parseKeys } from '../lib/lorebook';

interface LorebookEntryFieldsProps {
  entry: Entry;
  index: number;
  onChange: (entry: Entry) => void;
  onDelete: () => void;
}

/** One lorebook entry: its name, keys, text and switches, each labelled. */
export function LorebookEntryFields({ entry, index, onChange, onDelete }: LorebookEntryFieldsProps) {
  // The keys as typed while the field has focus (a trailing comma stays until the next key).
  const [typedKeys, setTypedKeys] = useState<string | null>(null);
  const id = (field: string) => `lorebook-${index}-${field}`;
  const set = (changes: Partial<Entry>) => onChange({ ...entry, ...changes });
  const check = (field: 'enabled' | 'always' | 'regex', label: string) => (
    <label className="checkbox" htmlFor={id(field)}>
      <input id={id(field)} type="checkbox" checked={entry[field]} onChange={(event) => set({ [field]: event.target.checked })} /> {label}
    </label>
  );
  return (
    <fieldset className="lorebook-entry" data-testid="lorebook-entry">
      <legend>{entry.name || `Entry ${index + 1}`}</legend>
      <div className="field">
        <label htmlFor={id('name')}>Name</label>
        <input id={id('name')} value={entry.name} maxLength={LOREBOOK_LIMITS.nameChars} onChange={(event) => set({ name: event.target.value })} />
      </div>
      <div className="field">
        <label htmlFor={id('keys')}>Keys</label>
        <input
          id={id('keys')}
          value={typedKeys ?? entry.keys.join(', ')}
          placeholder="Comma-separated: whole words, any case"
          onFocus={() => setTypedKeys(entry.keys.join(', '))}
          onBlur={() => setTypedKeys(null)}
          onChange={(event) => {
            setTypedKeys(event.target.value);
            set({ keys: parseKeys(event.target.value) });
          }}
        />
      </div>
      <div className="field">
        <label htmlFor={id('text')}>Text</label>
        <textarea id={id('text')} rows={3} value={entry.text} maxLength={LOREBOOK_LIMITS.textChars} onChange={(event) => set({ text: event.target.value })} />
      </div>
      <div className="field-row">
        {check('enabled', 'Enabled')}
        {check('always', 'Always sent')}
        {check('regex', 'Regular expression')}
      </div>
      <button type="button" className="button-secondary button-small" onClick={onDelete} aria-label={`Delete ${entry.name || `entry ${index + 1}`}`}>
        Delete
      </button>
    </fieldset>
  );
}
