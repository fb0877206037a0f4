import type { ReactNode } from 'react';

/** The side panel beside the text (a sheet over it on a phone): what the story is, how it is written, its revisions. */
export function StorySetupPanel({ open, onClose, children }: { open: boolean; onClose: () => void; children: ReactNode }) {
  return (
    <aside id="story-setup" className="story-setup" aria-labelledby="story-setup-heading" hidden={!open} data-testid="story-setup">
      <div className="story-setup-head">
        <h2 id="story-setup-heading">Story setup</h2>
        <button type="button" className="button-secondary button-small" onClick={onClose}>
          Close
        </button>
      </div>
      {children}
    </aside>
  );
}
