import type { WorkspaceLayout } from '../hooks/useWorkspaceLayout';

/** Shows or hides the story setup panel, and turns focus mode (only the text on screen) on and off. */
export function WorkspaceToggles({ layout }: { layout: WorkspaceLayout }) {
  return (
    <div className="workspace-toggles">
      <button type="button" className="setup-toggle" aria-expanded={layout.setupOpen} aria-controls="story-setup" onClick={layout.toggleSetup}>
        Story setup
      </button>
      <button
        type="button"
        className="focus-toggle"
        aria-pressed={layout.focusMode}
        onClick={layout.toggleFocusMode}
        title={layout.focusMode ? 'Back to the whole page (Esc)' : 'Only the text on screen'}
      >
        Focus mode
      </button>
    </div>
  );
}
