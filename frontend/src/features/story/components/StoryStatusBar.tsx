import type { LLMSettings } from '../../../types/api';
import type { GenerationView } from '../hooks/useStoryGeneration';
import type { DocumentSnapshot, DocumentSync } from '../lib/document-sync';
import type { TextRange } from '../lib/editor/marks';
import { wordCount } from '../lib/text';
import { GenerationStatsLine } from './GenerationProgress';
import { SaveIndicator } from './SaveIndicator';
import { StoryOrigin } from './StoryOrigin';

interface StoryStatusBarProps {
  sync: DocumentSync;
  doc: DocumentSnapshot;
  generation: GenerationView & { isRunning: boolean };
  settings: LLMSettings | undefined;
  /** The writer's selection in the text (null while the text is read as formatted). */
  selection: TextRange | null;
  onDownload: (storyId: number, format: 'markdown' | 'text') => void;
}

/** Under the text: saved or not, how long it is and who wrote it, the last generation's figures, downloads. */
export function StoryStatusBar({ sync, doc, generation, settings, selection, onDownload }: StoryStatusBarProps) {
  const { fields, storyId, save, server } = doc;
  const writing = generation.isRunning;
  const selected = selection && selection.to > selection.from ? wordCount(fields.content.slice(selection.from, selection.to)) : 0;
  return (
    <footer className="story-status">
      <SaveIndicator save={save} onRetry={() => void sync.retry()} />
      <StoryOrigin writing={writing} words={wordCount(fields.content)} origin={generation.origin} settings={settings} />
      {selected > 0 && (
        <span className="muted" data-testid="selection-words">
          {selected} {selected === 1 ? 'word' : 'words'} selected
        </span>
      )}
      <GenerationStatsLine stats={writing ? undefined : server?.last_generation?.stats} />
      {storyId !== null && fields.content.trim() !== '' && (
        <span className="story-downloads">
          Download:{' '}
          <button type="button" className="link-button" onClick={() => onDownload(storyId, 'markdown')} data-testid="export-markdown">
            Markdown
          </button>{' '}
          ·{' '}
          <button type="button" className="link-button" onClick={() => onDownload(storyId, 'text')} data-testid="export-text">
            plain text
          </button>
        </span>
      )}
    </footer>
  );
}
