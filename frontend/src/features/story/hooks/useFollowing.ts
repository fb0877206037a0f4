import { type RefObject, useCallback, useEffect, useRef } from 'react';

/** How near the bottom counts as being back at the end. */
const SLACK_PX = 80;

/** Keys that move a reader back up the text. */
const KEYS_UP = new Set(['PageUp', 'ArrowUp']);

/**
 * Whether the writer is reading the newest words in `scroller`: then the words a generation adds
 * keep the view at the end. Scrolling up to read back stops that; scrolling back down to the end
 * starts it again.
 *
 * "Scrolling up" is read from what the writer does (the wheel, a finger, the keys, the scrollbar
 * dragged), not from the scroll position going down: the editor itself moves the position a few
 * pixels up when it measures lines it had only estimated, and on a busy machine that happened
 * while words were arriving, so the view stopped following a writer who never moved.
 */
export function useFollowing(scroller: RefObject<HTMLElement | null>): () => boolean {
  const following = useRef(true);
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    let dragging = false; // the scrollbar held: a pointer pressed on the scroller itself
    let lastTop = element.scrollTop;
    let touchY: number | null = null;
    const stop = () => {
      following.current = false;
    };
    const onScroll = () => {
      const top = element.scrollTop;
      if (dragging && top < lastTop - 1) stop();
      if (element.scrollHeight - top - element.clientHeight <= SLACK_PX) following.current = true;
      lastTop = top;
    };
    const onWheel = (event: WheelEvent) => {
      if (event.deltaY < 0) stop();
    };
    const onKey = (event: KeyboardEvent) => {
      if (KEYS_UP.has(event.key) || (event.key === 'Home' && (event.ctrlKey || event.metaKey))) stop();
    };
    const onPointerDown = (event: PointerEvent) => {
      dragging = event.target === element;
    };
    const onPointerUp = () => {
      dragging = false;
    };
    const onTouchMove = (event: TouchEvent) => {
      const y = event.touches[0]?.clientY ?? null;
      if (y !== null && touchY !== null && y > touchY) stop(); // the finger pulls the text down: reading back
      touchY = y;
    };
    const onTouchEnd = () => {
      touchY = null;
    };
    element.addEventListener('scroll', onScroll, { passive: true });
    element.addEventListener('wheel', onWheel, { passive: true });
    element.addEventListener('keydown', onKey);
    element.addEventListener('pointerdown', onPointerDown);
    window.addEventListener('pointerup', onPointerUp);
    element.addEventListener('touchmove', onTouchMove, { passive: true });
    element.addEventListener('touchend', onTouchEnd);
    return () => {
      element.removeEventListener('scroll', onScroll);
      element.removeEventListener('wheel', onWheel);
      element.removeEventListener('keydown', onKey);
      element.removeEventListener('pointerdown', onPointerDown);
      window.removeEventListener('pointerup', onPointerUp);
      element.removeEventListener('touchmove', onTouchMove);
      element.removeEventListener('touchend', onTouchEnd);
    };
  }, [scroller]);
  return useCallback(() => following.current, []);
}
