interface ProbabilityBarProps {
  /** Why the newest generation came without probabilities, if it did. */
  note: string | null;
  highlight: boolean;
  onHighlight: (on: boolean) => void;
}

/** Above the text of a story that shows probabilities: the "Highlight unlikely words" switch, and why there are none. */
export function ProbabilityBar({ note, highlight, onHighlight }: ProbabilityBarProps) {
  return (
    <div className="probability-bar">
      <label>
        <input type="checkbox" checked={highlight} onChange={(event) => onHighlight(event.target.checked)} data-testid="highlight-unlikely" /> Highlight
        unlikely words
      </label>
      {note && (
        <p role="status" className="probability-note">
          {note}
        </p>
      )}
    </div>
  );
}
