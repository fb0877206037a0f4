/** Length in Unicode code points: how the server counts a generation's text offsets. */
export function codePointLength(text: string): number {
  return Array.from(text).length;
}

/** `text` without its first `count` code points. */
export function dropCodePoints(text: string, count: number): string {
  return count <= 0 ? text : Array.from(text).slice(count).join('');
}

export function wordCount(text: string): number {
  const trimmed = text.trim();
  return trimmed ? trimmed.split(/\s+/).length : 0;
}

const MAX_TITLE_LENGTH = 80;

/** The title a story gets until the user names it: the premise's first line, shortened at a word. */
export function titleFromPremise(premise: string): string {
  const line = premise
    .split('\n')
    .map((part) => part.trim())
    .find(Boolean);
  if (!line) return 'Untitled story';
  if (line.length <= MAX_TITLE_LENGTH) return line;
  const cut = line.slice(0, MAX_TITLE_LENGTH);
  const atWord = cut.includes(' ') ? cut.slice(0, cut.lastIndexOf(' ')) : cut;
  return `${atWord.replace(/[ ,.;:]+$/, '')}…`;
}
