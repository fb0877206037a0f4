import { type RefObject, useCallback, useEffect, useRef } from 'react';

/** How near the bottom counts as being back at the end. */
const SLACK_PX = 80;

/**
 * Whether the writer is reading the newest words in `scroller`: then the words a generation adds
 * keep the view at the end. Scrolling up to read back stops that (the view's own scrolling to
 * follow only ever goes down); scrolling back down to the end starts it again.
 */
export function useFollowing(scroller: RefObject<HTMLElement | null>): () => boolean {
  const following = useRef(true);
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    let lastTop = element.scrollTop;
    const onScroll = () => {
      const top = element.scrollTop;
      if (top < lastTop - 1) following.current = false;
      if (element.scrollHeight - top - element.clientHeight <= SLACK_PX) following.current = true;
      lastTop = top;
    };
    element.addEventListener('scroll', onScroll, { passive: true });
    return () => element.removeEventListener('scroll', onScroll);
  }, [scroller]);
  return useCallback(() => following.current, []);
}
