import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { applySavedSettings, llmSettingsQuery, migrateLegacySettings } from '../services/settings';

/** Runs the one-time localStorage → server migration when the signed-in app first mounts. */
export function useLegacySettingsMigration(): void {
  const queryClient = useQueryClient();
  // StrictMode runs mount effects twice but keeps refs, so this guard makes it one POST.
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    queryClient
      .fetchQuery(llmSettingsQuery)
      .then(migrateLegacySettings)
      .then((saved) => saved && applySavedSettings(queryClient, saved))
      // Failures leave the old key for the next load; the pages report server problems themselves.
      .catch(() => undefined);
  }, [queryClient]);
}
