import { useEffect, useRef } from 'react';

interface Shortcuts {
  /** Writes on: a new story when there is no text yet, else the next passage. */
  writeOn: () => void;
  /** The model writes at the cursor (null: there is no text to write into). */
  writeHere: (() => void) | null;
  stop: () => void;
  undo: () => void;
  redo: () => void;
  /** Leaves focus mode (null: not in it). */
  leaveFocusMode: (() => void) | null;
  /** Nothing runs: no generation, no studio call, no save conflict. */
  idle: boolean;
  writing: boolean;
  canGenerate: boolean;
}

function isEditable(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || target.closest('[contenteditable="true"]') !== null || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))
  );
}

/**
 * Ctrl/Cmd+Enter writes on, Ctrl/Cmd+Shift+Enter writes at the cursor, Escape stops (or, when nothing is being written, leaves focus mode);
 * Ctrl/Cmd+Z and Shift+Z undo and redo outside a text field (inside one, the field's own undo
 * works on what is typed there).
 */
export function useStoryShortcuts(shortcuts: Shortcuts): void {
  // One listener for the page's life, reading the latest state.
  const latest = useRef(shortcuts);
  useEffect(() => {
    latest.current = shortcuts;
  });
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const k = latest.current;
      const mod = event.ctrlKey || event.metaKey;
      if (event.key === 'Escape' && k.writing) {
        event.preventDefault();
        k.stop();
      } else if (event.key === 'Escape' && k.leaveFocusMode) {
        event.preventDefault();
        k.leaveFocusMode();
      } else if (mod && event.shiftKey && event.key === 'Enter' && k.idle && k.canGenerate && k.writeHere) {
        event.preventDefault();
        k.writeHere();
      } else if (mod && event.key === 'Enter' && k.idle && k.canGenerate) {
        event.preventDefault();
        k.writeOn();
      } else if (mod && event.key.toLowerCase() === 'z' && !isEditable(event.target) && k.idle) {
        event.preventDefault();
        if (event.shiftKey) k.redo();
        else k.undo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
