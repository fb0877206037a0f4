import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { Story } from '../../../types/api';
import { createStory } from '../api/create-story';
import { storiesQueryOptions } from '../api/get-stories';
import { getStory } from '../api/get-story';
import { updateStory } from '../api/update-story';
import { type DocumentApi, DocumentSync } from '../lib/document-sync';
import { titleFromPremise } from '../lib/text';

/** The server calls of the document; an automatic title is sent as one, so the server keeps it unique. */
function documentApi(autoTitle: { current: boolean }): DocumentApi {
  return {
    create: (story) => createStory({ ...story, auto_title: autoTitle.current }),
    update: (id, changes, options) =>
      updateStory(id, autoTitle.current && ('title' in changes || 'premise' in changes) ? { ...changes, auto_title: true } : changes, options),
    get: getStory,
  };
}

/** Closing or hiding the tab saves at once (a request with keepalive outlives the page); leaving for another page of the app saves too. */
function useSaveOnLeave(sync: DocumentSync): void {
  useEffect(() => {
    const flush = () => void sync.flush({ keepalive: true });
    const onVisibility = () => {
      if (document.visibilityState === 'hidden') flush();
    };
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      if (!sync.hasUnsavedChanges()) return;
      event.preventDefault();
      event.returnValue = '';
    };
    document.addEventListener('visibilitychange', onVisibility);
    window.addEventListener('pagehide', flush);
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => {
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('pagehide', flush);
      window.removeEventListener('beforeunload', onBeforeUnload);
      void sync.flush();
      sync.dispose();
    };
  }, [sync]);
}

/**
 * One story as a document on the server: every edit autosaved over the revision it was read at
 * (lib/document-sync.ts), the title named after the premise until the user names it, the library
 * and the tab's title kept current.
 */
export function useStoryDocument(initial: Story | null, onCreated: (story: Story) => void) {
  const queryClient = useQueryClient();
  const [autoTitle, setAutoTitle] = useState(() => !initial || initial.auto_title || initial.title === titleFromPremise(initial.premise ?? ''));
  // What the document's saves read at the time they are sent (not during render).
  const autoTitleRef = useRef(autoTitle);
  useEffect(() => {
    autoTitleRef.current = autoTitle;
  }, [autoTitle]);
  // eslint-disable-next-line react-hooks/refs -- the saves read the ref when they are sent, never during render
  const [sync] = useState(() => new DocumentSync(documentApi(autoTitleRef), initial, onCreated));
  const doc = useSyncExternalStore(sync.subscribe, sync.getSnapshot);
  const { storyId, revision, fields } = doc;
  useSaveOnLeave(sync);

  // The library shows the latest title, word count and order.
  useEffect(() => {
    if (storyId !== null) void queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
  }, [queryClient, storyId, revision]);

  useEffect(() => {
    document.title = `${fields.title || 'New story'} — Taleweaver`;
  }, [fields.title]);
  useEffect(() => () => void (document.title = 'Taleweaver'), []);

  return {
    sync,
    doc,
    editPremise: (premise: string) => sync.edit(autoTitle ? { premise, title: titleFromPremise(premise) } : { premise }),
    /** A story always has a title: cleared, it is named after the premise again. */
    editTitle: (title: string) => {
      const cleared = title.trim() === '';
      setAutoTitle(cleared);
      sync.edit({ title: cleared ? titleFromPremise(fields.premise) : title });
    },
  };
}
