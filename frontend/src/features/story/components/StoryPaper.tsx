import { useEffect, useMemo, useRef, useState } from 'react';
import { useFollowing } from '../hooks/useFollowing';
import { useTokenProbabilities } from '../hooks/useTokenProbabilities';
import type { DocumentSnapshot, DocumentSync } from '../lib/document-sync';
import type { TextRange } from '../lib/editor/marks';
import type { ProposalActions } from '../lib/editor/proposal';
import type { ShownProposal } from '../hooks/useRewrite';
import { codePointRanges, codeUnitRanges, lastPassageRange } from '../lib/text';
import { ProbabilityBar } from './ProbabilityBar';
import { StoryReader } from './StoryReader';
import { StoryTextEditor } from './StoryTextEditor';

const WAITING = 'Waiting for the first words…';

interface StoryPaperProps {
  sync: DocumentSync;
  doc: DocumentSnapshot;
  writing: boolean;
  mode: 'read' | 'edit';
  onSelect: (selection: TextRange) => void;
  /** The story opened with text: it is read first, so focus goes to its title. */
  focusOnOpen: boolean;
  /** A rewrite's proposal, waiting for the writer's choice (the text is read-only meanwhile). */
  proposal: ShownProposal | null;
  proposalActions: ProposalActions;
  /** Whether the model's text is marked. */
  showModelText: boolean;
  /** The writer chose another word for a generated one (at `at`, UTF-16): the model goes on from it. */
  onChoose: (at: number, text: string) => void;
}

/** The story's title and text in a reading measure: edited in the editor, or read as formatted. Only this part scrolls. */
export function StoryPaper(props: StoryPaperProps) {
  const { sync, doc, writing, mode, onSelect, focusOnOpen, proposal, proposalActions, showModelText, onChoose } = props;
  const headingRef = useRef<HTMLHeadingElement>(null);
  const paperRef = useRef<HTMLDivElement>(null);
  const following = useFollowing(paperRef);
  const { fields, server } = doc;
  const probabilities = useTokenProbabilities(doc);
  const [highlight, setHighlight] = useState(false);
  // The server's word on where the last passage starts holds for its own text only.
  const passage = useMemo(() => (server && server.content === fields.content ? lastPassageRange(server) : undefined), [server, fields.content]);
  const model = useMemo(
    () => (server && server.content === fields.content ? codeUnitRanges(fields.content, server.marks ?? []) : undefined),
    [server, fields.content],
  );

  useEffect(() => {
    if (focusOnOpen) headingRef.current?.focus({ preventScroll: true });
  }, [focusOnOpen]);

  return (
    <div className="story-paper" ref={paperRef} data-model-text={showModelText ? 'shown' : 'hidden'}>
      <div className="story-column">
        <h2 id="story-output-heading" ref={headingRef} tabIndex={-1}>
          {fields.title || 'Your story'}
        </h2>
        {probabilities.shown && <ProbabilityBar note={probabilities.note} highlight={highlight} onHighlight={setHighlight} />}
        {mode === 'read' ? (
          <StoryReader text={fields.content} placeholder={writing ? WAITING : 'No text yet: press Generate story, or Edit text to write.'} />
        ) : (
          <StoryTextEditor
            text={fields.content}
            onEdit={(content, ranges) => {
              sync.noteMarks(content, codePointRanges(content, ranges));
              sync.edit({ content });
            }}
            onSelect={onSelect}
            readOnly={writing || proposal !== null}
            placeholder={writing ? WAITING : 'Write here, or press Generate story.'}
            passage={passage}
            following={following}
            proposal={proposal}
            proposalActions={proposalActions}
            model={model}
            generating={writing && !proposal}
            tokens={probabilities.tokens}
            highlightUnlikely={highlight}
            onChoose={writing ? undefined : onChoose}
          />
        )}
      </div>
    </div>
  );
}
