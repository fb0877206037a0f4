import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';
import { clearDrafts } from '../features/settings/lib/draftStore';

afterEach(() => {
  cleanup();
  localStorage.clear();
  sessionStorage.clear();
  // The Settings drafts outlive a page on purpose; each test starts without any.
  clearDrafts();
});
