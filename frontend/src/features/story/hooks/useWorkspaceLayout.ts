import { useEffect, useState } from 'react';

const SETUP_KEY = 'taleweaver.storySetup';
/** Below this width the side panel is a sheet over the text, so a story opens with it closed. */
const NARROW_QUERY = '(max-width: 760px)';

function isNarrow(): boolean {
  return typeof window.matchMedia === 'function' && window.matchMedia(NARROW_QUERY).matches;
}

/** A new (empty) story opens with its setup shown: the premise comes first. Otherwise the panel is as the writer left it, and shut on a phone. */
function setupOpenAtFirst(hasText: boolean): boolean {
  if (!hasText) return true;
  if (isNarrow()) return false;
  return localStorage.getItem(SETUP_KEY) !== 'closed';
}

/**
 * How the story page is laid out: the story setup panel open or shut (remembered in this browser
 * on a wide screen), and focus mode, which hides everything but the text.
 */
export function useWorkspaceLayout(hasText: boolean) {
  const [setupOpen, setSetupOpen] = useState(() => setupOpenAtFirst(hasText));
  const [focusMode, setFocusMode] = useState(false);

  // The app's header is outside the story page: focus mode is said on the document for the styles.
  useEffect(() => {
    if (!focusMode) return;
    document.documentElement.dataset.focusMode = 'on';
    return () => void delete document.documentElement.dataset.focusMode;
  }, [focusMode]);

  const showSetup = (open: boolean) => {
    setSetupOpen(open);
    if (!isNarrow()) localStorage.setItem(SETUP_KEY, open ? 'open' : 'closed');
  };

  return {
    setupOpen,
    focusMode,
    toggleSetup: () => showSetup(!setupOpen),
    closeSetup: () => showSetup(false),
    toggleFocusMode: () => setFocusMode((on) => !on),
    leaveFocusMode: () => setFocusMode(false),
  };
}

export type WorkspaceLayout = ReturnType<typeof useWorkspaceLayout>;
