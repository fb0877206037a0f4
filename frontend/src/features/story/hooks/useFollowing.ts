import { type RefObject, useCallback, useEffect, useRef } from 'react';

/** How near the bottom still counts as reading the newest words. */
const SLACK_PX = 80;

/**
 * Whether the writer is at the end of the text in `scroller`: then the words a generation adds
 * keep the view at the end. Scrolling up to read stops that; scrolling back down starts it again.
 */
export function useFollowing(scroller: RefObject<HTMLElement | null>): () => boolean {
  const following = useRef(true);
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const onScroll = () => {
      following.current = element.scrollHeight - element.scrollTop - element.clientHeight <= SLACK_PX;
    };
    element.addEventListener('scroll', onScroll, { passive: true });
    return () => element.removeEventListener('scroll', onScroll);
  }, [scroller]);
  return useCallback(() => following.current, []);
}
