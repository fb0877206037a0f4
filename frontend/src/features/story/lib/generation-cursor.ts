import { codePointLength, dropCodePoints } from './text';

/**
 * Where the page stands in a generation's text: `offset` code points of it are shown. Text
 * that arrives is cut to what lies past the offset, so a re-attach that overlaps never doubles
 * a word, and the next follow asks from `offset`, so none is lost.
 */
export class GenerationCursor {
  constructor(public offset = 0) {}

  /** The part of `text` not shown yet; `end` is the server's offset after `text`, when it says. */
  take(text: string, end: number | null): string {
    const length = codePointLength(text);
    const start = end === null ? this.offset : end - length;
    const fresh = dropCodePoints(text, this.offset - start);
    this.offset = Math.max(this.offset, end ?? this.offset + length);
    return fresh;
  }
}
