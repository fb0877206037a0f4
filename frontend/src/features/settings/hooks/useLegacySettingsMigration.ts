import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { llmSettingsQueryOptions } from '../api/get-llm-settings';
import { migrateLegacySettings } from '../api/migrate-legacy-settings';
import { applySavedSettings } from '../api/save-llm-settings';

/** Runs the one-time localStorage → server migration when the signed-in app first mounts. */
export function useLegacySettingsMigration(): void {
  const queryClient = useQueryClient();
  // StrictMode runs mount effects twice but keeps refs, so this guard makes it one POST.
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    queryClient
      .fetchQuery(llmSettingsQueryOptions())
      .then(migrateLegacySettings)
      .then((saved) => saved && applySavedSettings(queryClient, saved))
      // Failures leave the old key for the next load; the pages report server problems themselves.
      .catch(() => undefined);
  }, [queryClient]);
}
