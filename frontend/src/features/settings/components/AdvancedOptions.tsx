import { useState } from 'react';
import { DEFAULT_BASE_URLS } from '../../../lib/backends';
import type { BackendType } from '../../../types/LLMTypes';
import { TextField } from '../../../components/TextField';
import type { BackendDraft } from './backendDrafts';

interface AdvancedOptionsProps {
  backendType: BackendType;
  draft: BackendDraft;
  onChange: (patch: Partial<BackendDraft>) => void;
  fieldError: (field: string) => string | undefined;
}

export const ADVANCED_FIELDS = ['config.base_url', 'config.organization', 'config.connect_timeout', 'config.first_token_timeout', 'config.idle_timeout'];

/** Fields most people never touch; they open by themselves when one of them has an error. */
export function AdvancedOptions({ backendType, draft, onChange, fieldError }: AdvancedOptionsProps) {
  const [open, setOpen] = useState(false);
  const hasError = ADVANCED_FIELDS.some((field) => fieldError(field));
  const shown = open || hasError;

  return (
    <div className="advanced">
      <button
        type="button"
        className="button-link"
        aria-expanded={shown}
        aria-controls="advanced-options"
        onClick={() => setOpen(!shown)}
        data-testid="advanced-toggle"
      >
        {shown ? 'Hide advanced options' : 'Show advanced options'}
      </button>
      {shown && (
        <div id="advanced-options" className="advanced-fields">
          {backendType === 'chatgpt' && (
            <>
              <TextField
                id="chatgpt-base-url"
                label="Base URL"
                type="url"
                value={draft.baseUrl}
                onChange={(baseUrl) => onChange({ baseUrl })}
                placeholder={DEFAULT_BASE_URLS.chatgpt}
                hint="Any OpenAI-compatible service; leave the default for OpenAI."
                error={fieldError('config.base_url')}
                testId="base-url-input"
              />
              <TextField
                id="chatgpt-organization"
                label="Organization (optional)"
                value={draft.organization}
                onChange={(organization) => onChange({ organization })}
                placeholder="org-..."
                error={fieldError('config.organization')}
                testId="organization-input"
              />
            </>
          )}
          <div className="field-row">
            <TextField
              id="connect-timeout"
              label="Connect timeout (s)"
              type="number"
              inputMode="decimal"
              value={draft.connectTimeout}
              onChange={(connectTimeout) => onChange({ connectTimeout })}
              error={fieldError('config.connect_timeout')}
              testId="connect-timeout-input"
            />
            <TextField
              id="first-token-timeout"
              label="First token timeout (s)"
              type="number"
              inputMode="decimal"
              value={draft.firstTokenTimeout}
              onChange={(firstTokenTimeout) => onChange({ firstTokenTimeout })}
              hint="How long to wait while the model loads and starts answering."
              error={fieldError('config.first_token_timeout')}
              testId="first-token-timeout-input"
            />
            <TextField
              id="idle-timeout"
              label="Idle timeout (s)"
              type="number"
              inputMode="decimal"
              value={draft.idleTimeout}
              onChange={(idleTimeout) => onChange({ idleTimeout })}
              hint="Longest silence allowed between two pieces of a story."
              error={fieldError('config.idle_timeout')}
              testId="idle-timeout-input"
            />
          </div>
        </div>
      )}
    </div>
  );
}
