import { useQueryClient } from '@tanstack/react-query';
import { type ChangeEvent, useRef, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import type { LibraryBackup as Backup } from '../../../types/api';
import { storiesQueryOptions } from '../api/get-stories';
import { downloadBackup, importLibrary } from '../api/studio';

/** "Back up library" saves every story as one file; "Import backup" adds such a file's stories as new ones. */
export function LibraryBackup() {
  const [note, setNote] = useState<string | null>(null);
  const [problem, setProblem] = useState<Error | null>(null);
  const queryClient = useQueryClient();
  const fileRef = useRef<HTMLInputElement>(null);

  const importFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    setProblem(null);
    setNote(null);
    try {
      let backup: Backup;
      try {
        backup = JSON.parse(await file.text()) as Backup;
      } catch {
        throw new Error(`${file.name} is not a Taleweaver backup (it is not JSON).`);
      }
      const result = await importLibrary(backup);
      await queryClient.invalidateQueries({ queryKey: storiesQueryOptions().queryKey });
      setNote(`Imported ${result.imported} ${result.imported === 1 ? 'story' : 'stories'} as new stories.`);
    } catch (error) {
      setProblem(error instanceof Error ? error : new Error(String(error)));
    }
  };

  return (
    <>
      <button type="button" onClick={() => void downloadBackup().catch(setProblem)} data-testid="library-backup">
        Back up library
      </button>
      <button type="button" onClick={() => fileRef.current?.click()} data-testid="library-import">
        Import backup
      </button>
      <input ref={fileRef} type="file" accept="application/json,.json" hidden onChange={(event) => void importFile(event)} data-testid="library-import-file" />
      {note && (
        <p className="muted library-note" role="status" data-testid="library-note">
          {note}
        </p>
      )}
      {problem && <ErrorMessage error={problem} title="That did not work" />}
    </>
  );
}
