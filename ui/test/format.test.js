import { test } from 'node:test';
import assert from 'node:assert/strict';
import { figures, humanBytes, mbps, fpsText, etaText, etaMs, rateText, baseName, count } from '../lib/format.js';

test('a video shows every figure in the documented order', () => {
  const r = {
    width: 1080, height: 1920, durationMs: 31000, fps: 29.97002997, videoCodec: 'h264',
    audioCodec: 'aac', bitrateBps: 8_100_000, sizeBytes: 38 * 1024 * 1024,
  };
  assert.equal(figures(r), '1080×1920 · 31.0 s · 29.97 fps · H.264/AAC · 8.1 Mbps · 38 MB');
});

test('a silent video says silent and an image shows size only after its dimensions', () => {
  assert.equal(
    figures({ width: 720, height: 1280, durationMs: 4500, fps: 30, videoCodec: 'hevc', audioCodec: null, bitrateBps: 640_000, sizeBytes: 1536 }),
    '720×1280 · 4.5 s · 30 fps · HEVC/silent · 640 kbps · 1.5 KB',
  );
  assert.equal(figures({ width: 1080, height: 1350, sizeBytes: 812 * 1024 }), '1080×1350 · 812 KB');
  assert.equal(figures({ sizeBytes: 12 }), '12 bytes');
});

test('sizes use binary units like the caps', () => {
  assert.equal(humanBytes(100 * 1024 * 1024), '100 MB');
  assert.equal(humanBytes(26_843_545_600), '25 GB');
  assert.equal(humanBytes(1), '1 byte');
  assert.equal(humanBytes(110_000_000), '104.9 MB');
});

test('bitrates never round up to the limit', () => {
  assert.equal(mbps(25_000_000), '25 Mbps');
  assert.equal(mbps(25_000_400), '25.000 Mbps');
  assert.equal(mbps(25_100_000), '25.1 Mbps');
  assert.equal(fpsText(23.976), '23.98');
  assert.equal(fpsText(60), '60');
});

test('times and rates read naturally', () => {
  assert.equal(etaText(8000), '8 s');
  assert.equal(etaText(125_000), '2 min 05 s');
  assert.equal(etaText(3_780_000), '1 h 03 min');
  assert.equal(etaText(null), '—');
  assert.equal(etaText(-5), '—');
  assert.equal(etaMs(10 * 1024 * 1024, 2 * 1024 * 1024), 5000);
  assert.equal(etaMs(10, 0), null);
  assert.equal(rateText(4.2 * 1024 * 1024), '4.2 MB/s');
  assert.equal(rateText(0), '');
  assert.equal(baseName('/a/b/clip.mp4'), 'clip.mp4');
  assert.equal(baseName('C:\\x\\y.png'), 'y.png');
  assert.equal(count(1000), '1,000');
});
