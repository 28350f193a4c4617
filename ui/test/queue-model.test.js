import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overall, overallText, postBytes, stateText, actionsFor, stateTone } from '../lib/queue-model.js';

const MB = 1024 * 1024;
const row = (id, state, files, extra = {}) => ({
  id, state, totalBytes: files.reduce((a, f) => a + f.sizeBytes, 0), files, ...extra,
});

test('overall progress counts confirmed files whole and moving files by their events', () => {
  const rows = [
    row(1, 'completed', [{ filename: 'a.mp4', sizeBytes: 10 * MB, putConfirmed: true }]),
    row(2, 'uploading', [
      { filename: 'b.jpg', sizeBytes: 2 * MB, putConfirmed: true },
      { filename: 'c.jpg', sizeBytes: 8 * MB, putConfirmed: false },
    ]),
    row(3, 'cancelled', [{ filename: 'd.mp4', sizeBytes: 50 * MB, putConfirmed: false }]),
  ];
  const progress = new Map([[2, { 'c.jpg': { bytesSent: 4 * MB, totalBytes: 8 * MB, rateBps: 2 * MB } }]]);
  const o = overall(rows, progress);
  assert.equal(o.total, 20 * MB);
  assert.equal(o.done, 16 * MB);
  assert.equal(o.rate, 2 * MB);
  assert.equal(o.etaMs, 2000);
  assert.equal(o.posts, 2);
  assert.equal(o.finished, 1);
  assert.equal(overallText(o), '1 of 2 posts done · 16 MB of 20 MB · 2 MB/s · 2 s left');
  assert.equal(overallText(overall([])), 'Nothing queued');
});

test('a live event never counts more than the file', () => {
  const r = row(1, 'uploading', [{ filename: 'x', sizeBytes: 100, putConfirmed: false }]);
  assert.equal(postBytes(r, { x: { bytesSent: 500 } }), 100);
});

test('states say why and offer the right buttons', () => {
  const now = 1_000_000;
  assert.equal(
    stateText({ state: 'waiting', nextAttemptAt: now + 8000, error: { message: 'the server answered 503' } }, now),
    'Waiting to retry in 8 s: the server answered 503',
  );
  assert.equal(
    stateText({ state: 'blocked', error: { message: 'Quota reached: 250/250 uploads. Archive uploads in Layers, then retry.' } }),
    'Blocked by quota: Quota reached: 250/250 uploads. Archive uploads in Layers, then retry.',
  );
  assert.equal(stateText({ state: 'completed' }), 'Completed');
  assert.equal(stateText({ state: 'completed', caption: 'Launch 🚀' }), 'Completed · “Launch 🚀”');
  assert.deepEqual(actionsFor('uploading'), { pause: true, resume: false, cancel: true, retry: false });
  assert.deepEqual(actionsFor('paused'), { pause: false, resume: true, cancel: true, retry: false });
  assert.deepEqual(actionsFor('failed'), { pause: false, resume: false, cancel: false, retry: true });
  assert.deepEqual(actionsFor('completed'), { pause: false, resume: false, cancel: false, retry: false });
  assert.equal(stateTone('completed'), 'ok');
  assert.equal(stateTone('blocked'), 'warn');
  assert.equal(stateTone('failed'), 'bad');
});

test('each destination has a short label for its queue rows', async () => {
  const { destinationLabel } = await import('../lib/queue-model.js');
  assert.equal(destinationLabel('layers-content'), 'Layers content');
  assert.equal(destinationLabel('layers-media:logo'), 'Media library · logo');
  assert.equal(destinationLabel('layers-media:reference_image'), 'Media library · reference image');
  assert.equal(destinationLabel('loops'), 'Loops');
  assert.equal(destinationLabel('layers-url-fetch'), 'Layers content · from URL');
});
