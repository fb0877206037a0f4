import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { storiesQueryOptions } from '../api/get-stories';
import type { StoryFields } from '../api/types';
import type { DocumentSync, SaveState } from '../lib/document-sync';
import { ConflictNotice, SetAsideNotice } from './ConflictNotice';

/** The writer's choice when another tab or window saved the story first, and the version set aside after it. */
export function SaveNotices({ sync, save }: { sync: DocumentSync; save: SaveState }) {
  const queryClient = useQueryClient();
  // The writer's version, set aside when they chose to reload the other one.
  const [setAside, setSetAside] = useState<StoryFields | null>(null);
  const refreshLibrary = () => queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });

  return (
    <>
      {save.kind === 'conflict' && (
        <ConflictNotice
          theirs={save.theirs}
          onReloadTheirs={async () => setSetAside(await sync.reloadTheirs())}
          onKeepBoth={async () => {
            await sync.keepBoth();
            await refreshLibrary();
          }}
        />
      )}
      {setAside && (
        <SetAsideNotice
          mine={setAside}
          onSaveAsNew={async () => {
            const copy = await sync.saveAsNewStory(setAside);
            await refreshLibrary();
            return copy;
          }}
          onDismiss={() => setSetAside(null)}
        />
      )}
    </>
  );
}
