import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderPage } from '../../../test/render';
import { fakeServer, json } from '../../../test/server';
import { StorageUse, formatBytes } from './StorageUse';

describe('StorageUse', () => {
  it('shows how much the stories keep of the quota', async () => {
    fakeServer({ 'GET /api/stories/storage': () => json({ used_bytes: 12_345_678, quota_bytes: 1_000_000_000, stories: 3 }) });
    renderPage(<StorageUse />);
    expect(await screen.findByTestId('storage-use')).toHaveTextContent('Storage: 12.3 MB of 1.0 GB used');
  });

  it('says what to do when the quota is nearly reached', async () => {
    fakeServer({ 'GET /api/stories/storage': () => json({ used_bytes: 950_000_000, quota_bytes: 1_000_000_000, stories: 40 }) });
    renderPage(<StorageUse />);
    expect(await screen.findByTestId('storage-use')).toHaveTextContent('delete stories you no longer need');
  });

  it('counts bytes in decimal units', () => {
    expect([formatBytes(999), formatBytes(1_500), formatBytes(2_000_000)]).toEqual(['999 bytes', '1.5 kB', '2.0 MB']);
  });
});
