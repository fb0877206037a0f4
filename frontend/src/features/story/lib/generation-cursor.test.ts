import { describe, expect, it } from 'vitest';
import { GenerationCursor } from './generation-cursor';

describe('GenerationCursor', () => {
  it('keeps all text that starts where the page stands and moves to the offset the server names', () => {
    const cursor = new GenerationCursor(10);
    expect(cursor.take(' the sea', 18)).toBe(' the sea');
    expect(cursor.offset).toBe(18);
  });

  it('drops the part of a re-sent event the page already shows, so no word is doubled', () => {
    const cursor = new GenerationCursor(12); // "Once upon a " is shown
    expect(cursor.take('a time there', 22)).toBe('time there'); // the event starts at 10
    expect(cursor.offset).toBe(22);
    expect(cursor.take('there', 22)).toBe(''); // entirely old
    expect(cursor.offset).toBe(22);
  });

  it('counts offsets in code points, as the server does, so an emoji does not shift the cursor', () => {
    const cursor = new GenerationCursor(0);
    expect(cursor.take('🐉 woke', 6)).toBe('🐉 woke');
    expect(cursor.take('woke up', 9)).toBe(' up'); // starts at 2: "woke" is already shown
    expect(cursor.offset).toBe(9);
  });

  it('counts the text itself when the server names no offset', () => {
    const cursor = new GenerationCursor(5);
    expect(cursor.take('ñandú', null)).toBe('ñandú');
    expect(cursor.offset).toBe(10);
  });
});
