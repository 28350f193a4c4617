import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionLabel, statusBanner, unreachableText, waitText } from '../lib/connection.js';

test('a locked keyring says so, offers Retry, and is not the sandbox', () => {
  const b = statusBanner({
    mode: 'keyring', runner: 'stopped',
    message: 'The keyring is locked or unavailable: unlock it, then press Retry. (prompt dismissed)',
  });
  assert.equal(b.text, 'The keyring is locked or unavailable: unlock it, then press Retry. (prompt dismissed)');
  assert.equal(b.retry, true);
  assert.equal(b.tone, 'bad');
  assert.deepEqual(connectionLabel('keyring'), { label: 'Keyring locked', tone: 'bad' });
});

test('an unreachable Layers counts down to the next try and counts the waiting posts', () => {
  const now = 1_000_000;
  const s = { mode: 'unreachable', runner: 'stopped', waitingPosts: 3, retryAtMs: now + 19_200, detail: 'Could not reach api.layers.com' };
  const b = statusBanner(s, now);
  assert.equal(b.text, 'Layers unreachable, 3 posts waiting, next try in 20 s');
  assert.equal(b.detail, 'Could not reach api.layers.com');
  assert.equal(b.retry, true);
  assert.equal(statusBanner(s, now + 19_000).text, 'Layers unreachable, 3 posts waiting, next try in 1 s');
  assert.equal(statusBanner(s, now + 20_000).text, 'Layers unreachable, 3 posts waiting, trying again now…');
  assert.equal(unreachableText(1, now + 90_000, now), 'Layers unreachable, 1 post waiting, next try in 2 min');
  assert.deepEqual(connectionLabel('unreachable'), { label: 'Layers unreachable', tone: 'warn' });
});

test('live and sandbox need no banner; a held queue and a refused key do', () => {
  assert.equal(statusBanner({ mode: 'live', runner: 'running' }), null);
  assert.equal(statusBanner({ mode: 'sandbox', runner: 'running' }), null);
  assert.equal(statusBanner({ mode: 'connecting', runner: 'stopped' }), null);
  const held = statusBanner({ mode: 'live', runner: 'held', message: 'pid 42' });
  assert.match(held.text, /another Layers Uploader.*pid 42$/);
  assert.equal(held.retry, false);
  const refused = statusBanner({ mode: 'offline', runner: 'stopped', message: 'Cannot use the Layers API: key revoked' });
  assert.equal(refused.text, 'Cannot use the Layers API: key revoked');
  assert.equal(refused.tone, 'bad');
});

test('waits read in seconds, then whole minutes', () => {
  assert.equal(waitText(0), '1 s');
  assert.equal(waitText(59_000), '59 s');
  assert.equal(waitText(61_000), '2 min');
});
