import type { Story } from '../../../types/api';
import type { TextRange } from './editor/marks';

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

const MAX_TITLE_LENGTH = 60;

/** The title a story gets until the user names it, as the server derives it: the first sentence
 * of the premise's first line, shortened at a word (the server adds " (2)" to keep it unique). */
export function titleFromPremise(premise: string): string {
  const line = premise
    .split('\n')
    .map((part) => part.trim())
    .find(Boolean);
  if (!line) return 'Untitled story';
  const sentence = line.split(/(?<=[.!?])\s/)[0].replace(/\.$/, '');
  if (sentence.length <= MAX_TITLE_LENGTH) return sentence;
  const cut = sentence.slice(0, MAX_TITLE_LENGTH);
  const atWord = cut.includes(' ') ? cut.slice(0, cut.lastIndexOf(' ')) : cut;
  return `${atWord.replace(/[ ,.;:]+$/, '')}…`;
}

/** Where code point `codePoints` of `text` is in UTF-16 code units (the server counts the one, JavaScript strings the other). */
export function codeUnitIndex(text: string, codePoints: number): number {
  let index = 0;
  for (let seen = 0; seen < codePoints && index < text.length; seen += 1) index += (text.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
  return index;
}

/** The story's last generated passage (the one Regenerate writes again), in its text as the server has it. */
export function lastPassageRange(story: Story): TextRange | null {
  if (!story.alternatives) return null;
  const content = story.content ?? '';
  const from = codeUnitIndex(content, story.alternatives.start);
  return from < content.length ? { from, to: content.length } : null;
}

/** Ranges of `text` in UTF-16 code units as the server counts them (code points), in one pass (ranges sorted). */
export function codePointRanges(text: string, ranges: readonly TextRange[]): number[][] {
  const bounds = ranges.flatMap((range) => [range.from, range.to]);
  const out: number[] = [];
  let points = 0;
  let index = 0;
  for (const bound of bounds) {
    while (index < bound && index < text.length) {
      index += (text.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
      points += 1;
    }
    out.push(points);
  }
  return ranges.map((_, i) => [out[2 * i], out[2 * i + 1]]);
}

/** The server's ranges (code points) as UTF-16 ranges of `text`, in one pass (ranges sorted). */
export function codeUnitRanges(text: string, ranges: readonly number[][]): TextRange[] {
  const out: number[] = [];
  let points = 0;
  let index = 0;
  for (const bound of ranges.flat()) {
    while (points < bound && index < text.length) {
      index += (text.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
      points += 1;
    }
    out.push(index);
  }
  return ranges.map((_, i) => ({ from: out[2 * i], to: out[2 * i + 1] }));
}
