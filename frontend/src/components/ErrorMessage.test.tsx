// Issue 12, item 5: every error class the Settings page shows has a message fitted to it — the
// likely cause and the next step — instead of one "check the connection" for all (the Story
// page's are in features/story/components/GenerationError.test.tsx).
import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../lib/api-client';
import { renderPage } from '../test/render';
import { ErrorMessage } from './ErrorMessage';

describe('Settings errors carry a next step too', () => {
  it('a model list that could not be read because of a timeout suggests the timeout setting', () => {
    renderPage(<ErrorMessage error={new ApiError(504, 'backend_timeout', 'Ollama sent nothing for 5 s.')} title="Could not list models" testId="models-error" />);
    expect(screen.getByTestId('models-error-next-step')).toHaveTextContent('raise the first-token timeout');
  });
});
