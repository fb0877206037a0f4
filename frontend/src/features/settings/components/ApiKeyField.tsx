import type { BackendConfig } from '../../../types/api';
import { TextField } from '../../../components/TextField';

interface ApiKeyFieldProps {
  value: string;
  onChange: (value: string) => void;
  /** The saved ChatGPT config, whose masked key tells the user a key is already stored. */
  saved?: BackendConfig;
  error?: string;
}

/** The key never comes back from the server; only its mask does, so blank means "keep it". */
export function ApiKeyField({ value, onChange, saved, error }: ApiKeyFieldProps) {
  const stored = saved?.has_api_key ? (saved.api_key_masked ?? 'a stored key') : null;
  return (
    <TextField
      id="chatgpt-api-key"
      label="API key"
      type="password"
      autoComplete="off"
      spellCheck={false}
      value={value}
      onChange={onChange}
      placeholder={stored ? `${stored} — leave blank to keep` : 'sk-...'}
      hint={
        stored
          ? `A key is stored (${stored}). Leave blank to keep it, or paste a new one to replace it.`
          : 'Your OpenAI API key. It is stored encrypted on the Taleweaver server and never sent back.'
      }
      error={error}
      testId="api-key-input"
    />
  );
}
