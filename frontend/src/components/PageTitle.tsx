import { type ReactNode, useEffect } from 'react';

/** Names the page in the browser tab and for screen readers, e.g. "Settings — Taleweaver". */
export function PageTitle({ title, children }: { title: string; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} — Taleweaver`;
  }, [title]);
  return children;
}
