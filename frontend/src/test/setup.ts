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

// jsdom lays nothing out, and has no client rects for a Range; CodeMirror measures with them
// (jsdom issue #3729). Empty ones are all a page without layout has.
Range.prototype.getClientRects ??= () => ({ length: 0, item: () => null, [Symbol.iterator]: [][Symbol.iterator] }) as unknown as DOMRectList;
Range.prototype.getBoundingClientRect ??= () => new DOMRect();
