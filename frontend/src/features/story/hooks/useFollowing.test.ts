import { renderHook } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { useFollowing } from './useFollowing';

/** A scroller 1,000 px high showing 200 px of it, scrolled to `top`. */
function scroller(top: number): HTMLElement {
  const element = document.createElement('div');
  Object.defineProperty(element, 'scrollHeight', { value: 1000 });
  Object.defineProperty(element, 'clientHeight', { value: 200 });
  element.scrollTop = top;
  return element;
}

function scrollTo(element: HTMLElement, top: number): void {
  element.scrollTop = top;
  element.dispatchEvent(new Event('scroll'));
}

describe('useFollowing', () => {
  it('keeps following when the position moves up without the writer doing anything', () => {
    const element = scroller(800);
    const { result } = renderHook(() => useFollowing({ current: element }));
    scrollTo(element, 700); // the editor measured lines above and moved the position
    scrollTo(element, 650);
    expect(result.current()).toBe(true);
  });

  it('stops following when the writer scrolls up with the wheel, and follows again back at the end', () => {
    const element = scroller(800);
    const { result } = renderHook(() => useFollowing({ current: element }));
    element.dispatchEvent(new WheelEvent('wheel', { deltaY: -300 }));
    scrollTo(element, 500);
    expect(result.current()).toBe(false);
    element.dispatchEvent(new WheelEvent('wheel', { deltaY: 100 }));
    scrollTo(element, 600);
    expect(result.current()).toBe(false); // still reading, not at the end
    scrollTo(element, 790);
    expect(result.current()).toBe(true);
  });

  it('stops following on Page Up and when the scrollbar is dragged up', () => {
    const keyed = scroller(800);
    const byKey = renderHook(() => useFollowing({ current: keyed })).result;
    keyed.dispatchEvent(new KeyboardEvent('keydown', { key: 'PageUp', bubbles: true }));
    expect(byKey.current()).toBe(false);

    const dragged = scroller(800);
    const byDrag = renderHook(() => useFollowing({ current: dragged })).result;
    dragged.dispatchEvent(new Event('pointerdown'));
    scrollTo(dragged, 400);
    window.dispatchEvent(new Event('pointerup'));
    expect(byDrag.current()).toBe(false);
  });
});
