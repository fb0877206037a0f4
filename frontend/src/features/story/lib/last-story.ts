import { useSyncExternalStore } from 'react';

/**
 * The story each user had open last, so the Story link comes back to it. Kept in this browser
 * (localStorage) under the user's own key: in multi-user mode another user on the same browser
 * never gets it, and logging out forgets it.
 */
const PREFIX = 'taleweaver.lastStory.';
const listeners = new Set<() => void>();

/** Whose memory it is: the user's id in multi-user mode, "local" for the one user of a personal install. */
export type StoryOwner = string;

export function lastStoryOf(owner: StoryOwner): number | null {
  const id = Number(localStorage.getItem(PREFIX + owner));
  return Number.isInteger(id) && id > 0 ? id : null;
}

export function rememberLastStory(owner: StoryOwner, id: number): void {
  if (lastStoryOf(owner) === id) return;
  localStorage.setItem(PREFIX + owner, String(id));
  listeners.forEach((listener) => listener());
}

/** Forgets the owner's last story (at logout; with `onlyIf`, only when that story is the one, e.g. it was deleted). */
export function forgetLastStory(owner: StoryOwner, onlyIf?: number): void {
  if (onlyIf !== undefined && lastStoryOf(owner) !== onlyIf) return;
  localStorage.removeItem(PREFIX + owner);
  listeners.forEach((listener) => listener());
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The owner's last story, kept current as stories are opened and forgotten. */
export function useLastStory(owner: StoryOwner | null): number | null {
  return useSyncExternalStore(subscribe, () => (owner === null ? null : lastStoryOf(owner)));
}
