import Markdown from 'react-markdown';

/** The story as a reader sees it: Markdown rendered safely (raw HTML is dropped, never run). */
export function StoryReader({ text, placeholder }: { text: string; placeholder: string }) {
  return (
    <article className="story-reader-text" aria-label="Story, formatted" data-testid="story-reader">
      {text.trim() ? <Markdown skipHtml>{text}</Markdown> : <p className="muted">{placeholder}</p>}
    </article>
  );
}
