import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { clearDrafts } from '../features/settings';
import { network } from './server';

// A request no test answers is an error, never a real network call.
beforeAll(() => network.listen({ onUnhandledRequest: 'error' }));
afterAll(() => network.close());

afterEach(() => {
  cleanup();
  network.resetHandlers();
  localStorage.clear();
  sessionStorage.clear();
  // The Settings drafts outlive a page on purpose; each test starts without any.
  clearDrafts();
});
