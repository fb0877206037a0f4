// What to tell a user about a failure: the likely cause in the server's words (error.message,
// error.hint) and the next step fitted to the kind of failure (error.code), so that a rate
// limit never reads "check the connection" and nobody is told to edit a request by hand.
import { ApiError } from './api-client';

export interface ErrorAdvice {
  /** What went wrong. */
  message: string;
  /** What to do next. */
  nextStep: string;
  /** The next step is done in Settings. */
  inSettings: boolean;
}

interface Advice {
  nextStep: string;
  inSettings: boolean;
  /** Replaces the server's message when that one speaks to API clients, not to a user of the page. */
  message?: string;
}

const ADVICE: Record<string, Advice> = {
  backend_not_configured: { nextStep: 'Choose a backend in Settings, test it and save.', inSettings: true },
  backend_unreachable: {
    nextStep: 'Start the LLM server, or correct its address in Settings, then try again.',
    inSettings: true,
  },
  backend_timeout: {
    nextStep:
      'The model may still be loading: wait a moment and try again, or raise the first-token timeout in Settings (advanced options).',
    inSettings: true,
  },
  backend_auth_failed: { nextStep: 'Check the API key in Settings: it may be mistyped or revoked.', inSettings: true },
  rate_limited: {
    nextStep: 'The backend is limiting how often it may be asked: wait a minute, then try again.',
    inSettings: false,
  },
  insufficient_quota: {
    nextStep: "The account behind the API key has no credit left: add credit with the provider, or save another key in Settings.",
    inSettings: true,
  },
  model_not_found: {
    nextStep: "Choose one of the backend's models as the default model in Settings, then try again.",
    inSettings: true,
  },
  model_required: {
    message: 'No default model is chosen for this backend.',
    nextStep: 'Choose a default model in Settings and save, then try again.',
    inSettings: true,
  },
  no_model_loaded: {
    nextStep: "Load a model in LM Studio (or turn on its just-in-time model loading), then try again.",
    inSettings: false,
  },
  context_length_exceeded: {
    nextStep: "Choose a shorter length or premise, or load the model with a larger context.",
    inSettings: false,
  },
  invalid_request: {
    nextStep: 'Try again; if it keeps failing, choose another model in Settings.',
    inSettings: true,
  },
  backend_error: {
    nextStep: "The LLM server failed: look at its log window, then try again.",
    inSettings: false,
  },
  stream_interrupted: {
    nextStep: 'Try again; if it keeps breaking off, look at the LLM server’s log window.',
    inSettings: false,
  },
  malformed_stream: {
    nextStep: 'Try again; if it keeps happening, test the connection in Settings: the address may be another kind of server.',
    inSettings: true,
  },
  network_error: { nextStep: 'Start Taleweaver (./run.sh) or check its address, then reload this page.', inSettings: false },
  origin_not_allowed: {
    nextStep: 'Add this page’s address to TALEWEAVER_CORS_ORIGINS where the server runs, restart it, then reload this page.',
    inSettings: false,
  },
  unauthorized: { nextStep: 'Log in again.', inSettings: false },
};

const FALLBACK: Advice = { nextStep: 'Try again; if it keeps failing, test the connection in Settings.', inSettings: true };

/** The cause and the next step for a failure; the server's hint, when it gives one, is the next step. */
export function adviceFor(error: Error): ErrorAdvice {
  const code = error instanceof ApiError ? error.code : undefined;
  const advice = (code && ADVICE[code]) || FALLBACK;
  const hint = error instanceof ApiError ? error.hint : undefined;
  return {
    message: advice.message ?? error.message,
    nextStep: hint ?? advice.nextStep,
    inSettings: advice.inSettings,
  };
}
