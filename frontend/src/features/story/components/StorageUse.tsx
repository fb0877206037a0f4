import { useStorageUse } from '../api/get-storage';

/** "1.2 MB" — a byte count in decimal units, as the quota's default of 1 GB is written. */
export function formatBytes(bytes: number): string {
  const units: [string, number][] = [['GB', 1e9], ['MB', 1e6], ['kB', 1e3]];
  for (const [unit, scale] of units) if (bytes >= scale) return `${(bytes / scale).toFixed(1)} ${unit}`;
  return `${bytes} bytes`;
}

/** How much the user's stories keep (text, revisions, undo steps, versions), and of what quota. */
export function StorageUse() {
  const use = useStorageUse();
  if (!use.data) return null;
  const { used_bytes: used, quota_bytes: quota } = use.data;
  const nearlyFull = quota > 0 && used >= 0.9 * quota;
  return (
    <p className={nearlyFull ? 'notice notice-warning' : 'muted'} data-testid="storage-use">
      Storage: {formatBytes(used)} {quota > 0 ? `of ${formatBytes(quota)} used` : 'used'}
      {nearlyFull && ' — delete stories you no longer need to make room.'}
    </p>
  );
}
