import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shown, wantsFitCheck, clock, progressText, centreCrop, frameBox } from '../lib/fit.js';

const unfit = { kind: 'video', errors: [], platformFit: [{ platform: 'tiktok', ok: false, issues: ['x'] }] };

test('a card shows its fitted copy only while the copy is chosen', () => {
  const copy = { path: '/m/a.fit.mp4', r: { kind: 'video' } };
  const it = { path: '/m/a.mp4', r: unfit, fit: { state: 'done', copy, showing: 'copy' } };
  assert.deepEqual(shown(it), copy);
  assert.deepEqual(shown({ ...it, fit: { ...it.fit, showing: 'original' } }), { path: '/m/a.mp4', r: unfit });
  assert.deepEqual(shown({ path: '/m/a.mp4', r: unfit, fit: { state: 'converting' } }).path, '/m/a.mp4');
});

test('the planner is asked about readable videos that miss a platform, nothing else', () => {
  assert.equal(wantsFitCheck(unfit), true);
  assert.equal(wantsFitCheck({ ...unfit, platformFit: [{ ok: true }, { ok: true }] }), false);
  assert.equal(wantsFitCheck({ ...unfit, errors: [{ code: 'unreadable' }] }), false);
  assert.equal(wantsFitCheck({ ...unfit, kind: 'image' }), false);
});

test('a video over the cap or in a refused container is asked about too: a copy can fix those', () => {
  assert.equal(wantsFitCheck({ ...unfit, errors: [{ code: 'too_large' }] }), true);
  assert.equal(wantsFitCheck({ kind: null, errors: [{ code: 'unsupported_type' }], platformFit: [] }), true);
  assert.equal(wantsFitCheck({ ...unfit, errors: [{ code: 'too_large' }, { code: 'unreadable' }] }), false);
  assert.equal(wantsFitCheck({ kind: 'image', errors: [{ code: 'too_large' }], platformFit: [] }), false);
});

test('progress reads as time done of the duration, speed and time left', () => {
  assert.equal(clock(65_400), '1:05');
  assert.equal(clock(3_723_000), '1:02:03');
  assert.equal(progressText({ doneMs: 2_000, durationMs: 5_000, speed: 2.43, etaMs: 2_100 }),
    '0:02 / 0:05 · 2.4× · about 3 s left');
  assert.equal(progressText({ doneMs: 0, durationMs: 5_000, speed: null, etaMs: null }),
    '0:00 / 0:05 · estimating…');
});

test('frames are centred crops: a landscape picture loses its sides, a tall one its top and bottom', () => {
  const tiktokOnWide = centreCrop(1920, 1080, 9, 16);
  assert.equal(tiktokOnWide.top, 0);
  assert.equal(tiktokOnWide.height, 100);
  assert.ok(Math.abs(tiktokOnWide.width - 31.640625) < 1e-9);
  assert.ok(Math.abs(tiktokOnWide.left - (100 - 31.640625) / 2) < 1e-9);
  // A 4:5 slide is exactly Instagram's frame, and wider than TikTok's.
  assert.deepEqual(centreCrop(1080, 1350, 4, 5), { left: 0, top: 0, width: 100, height: 100 });
  const tiktokOnSlide = centreCrop(1080, 1350, 9, 16);
  assert.equal(tiktokOnSlide.height, 100);
  assert.ok(Math.abs(tiktokOnSlide.width - 70.3125) < 1e-9);
  // A very tall picture keeps its full width.
  const instaOnTall = centreCrop(1080, 2400, 4, 5);
  assert.equal(instaOnTall.width, 100);
  assert.ok(Math.abs(instaOnTall.height - 56.25) < 1e-9);
});

test('the preview box keeps the picture’s aspect inside its bounds', () => {
  assert.deepEqual(frameBox(1920, 1080, 110, 80), { width: 110, height: 62 });
  assert.deepEqual(frameBox(1080, 1350, 110, 80), { width: 64, height: 80 });
  assert.deepEqual(frameBox(0, 0, 110, 80), { width: 110, height: 80 });
});
