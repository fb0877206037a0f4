// Issue 12, item 5: every error class the Story page shows has a message fitted to it — the
// likely cause and the next step — instead of one "check the connection" for all.
import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../lib/api-client';
import { renderPage } from '../../../test/render';
import { GenerationError } from './GenerationError';

function storyError(error: Error) {
  renderPage(<GenerationError error={error} />);
  return screen.getByTestId('story-error');
}

describe('Story page errors name the cause and the next step', () => {
  it('a 429 rate limit says wait and try again, not "check the connection", and links nowhere', () => {
    const error = storyError(new ApiError(429, 'rate_limited', 'ChatGPT is rate-limiting requests: Rate limit reached for gpt-4.'));
    expect(error).toHaveTextContent('ChatGPT is rate-limiting requests');
    expect(error).toHaveTextContent('wait a minute, then try again');
    expect(error).not.toHaveTextContent(/check the connection/i);
    expect(screen.queryByRole('link', { name: 'Open Settings' })).not.toBeInTheDocument();
  });

  it('an exhausted quota is told apart from a rate limit: credit, or another key', () => {
    const error = storyError(new ApiError(429, 'insufficient_quota', 'You exceeded your current quota.'));
    expect(error).toHaveTextContent('no credit left');
    expect(error).not.toHaveTextContent('wait a minute');
    expect(error).not.toHaveTextContent(/check the connection/i);
  });

  it('a missing model sends the user to choose one, never to "name one in the request"', () => {
    const error = storyError(
      new ApiError(400, 'model_required', 'No model was chosen: pick a default model in Settings or name one in the request.'),
    );
    expect(error).toHaveTextContent('No default model is chosen for this backend.');
    expect(error).toHaveTextContent('Choose a default model in Settings');
    expect(error).not.toHaveTextContent('name one in the request');
    expect(screen.getByRole('link', { name: 'Open Settings' })).toHaveAttribute('href', '/settings');
  });

  it('a model the backend does not have asks for one of its models', () => {
    const error = storyError(new ApiError(404, 'model_not_found', 'LM Studio: model "qwen2.5-7b-instruct" not found.'));
    expect(error).toHaveTextContent("Choose one of the backend's models as the default model in Settings");
    expect(error).not.toHaveTextContent(/check the connection/i);
  });

  it('an auth failure points at the key', () => {
    const error = storyError(new ApiError(502, 'backend_auth_failed', 'ChatGPT refused the credentials (HTTP 401).'));
    expect(error).toHaveTextContent('Check the API key in Settings');
  });

  it('an unreachable backend asks to start it or fix its address, and uses the server hint when there is one', () => {
    const bare = storyError(new ApiError(502, 'backend_unreachable', 'Ollama did not answer at http://localhost:11434.'));
    expect(bare).toHaveTextContent('Start the LLM server, or correct its address in Settings');

    renderPage(
      <GenerationError
        error={new ApiError(502, 'backend_unreachable', 'Ollama did not answer.', { hint: 'Is `ollama serve` running?' })}
      />,
    );
    expect(screen.getAllByTestId('story-error')[1]).toHaveTextContent('Is `ollama serve` running?');
  });

  it('a prompt longer than the context asks for a shorter story', () => {
    const error = storyError(new ApiError(400, 'context_length_exceeded', 'The prompt does not fit the 4096-token context.'));
    expect(error).toHaveTextContent('Choose a shorter length or premise');
  });

  it('a garbled stream and a broken-off stream each say what to try', () => {
    expect(storyError(new ApiError(200, 'malformed_stream', 'The server sent a garbled piece of the story.'))).toHaveTextContent(
      'the address may be another kind of server',
    );
  });
});
