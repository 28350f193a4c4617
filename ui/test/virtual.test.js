import { test } from 'node:test';
import assert from 'node:assert/strict';
import { visibleRange, moveItem } from '../lib/virtual.js';

test('a 1,000-row list renders only the rows in view and a few around', () => {
  const r = visibleRange({ count: 1000, rowHeight: 100, scrollTop: 50_000, viewportHeight: 700, overscan: 4 });
  assert.deepEqual(r, { start: 496, end: 512, offset: 49_600, total: 100_000 });
  assert.ok(r.end - r.start < 20);
});

test('the ends of the list clamp', () => {
  assert.deepEqual(visibleRange({ count: 3, rowHeight: 100, scrollTop: 0, viewportHeight: 700 }), { start: 0, end: 3, offset: 0, total: 300 });
  const end = visibleRange({ count: 1000, rowHeight: 100, scrollTop: 1e9, viewportHeight: 700, overscan: 2 });
  assert.equal(end.end, 1000);
  assert.ok(end.start <= 997);
  assert.deepEqual(visibleRange({ count: 0, rowHeight: 100, scrollTop: 0, viewportHeight: 700 }), { start: 0, end: 0, offset: 0, total: 0 });
});

test('moving slides keeps every slide once', () => {
  assert.deepEqual(moveItem(['a', 'b', 'c', 'd'], 0, 2), ['b', 'c', 'a', 'd']);
  assert.deepEqual(moveItem(['a', 'b', 'c'], 2, 0), ['c', 'a', 'b']);
  assert.deepEqual(moveItem(['a', 'b'], 0, 5), ['a', 'b']);
  assert.deepEqual(moveItem(['a', 'b'], -1, 0), ['a', 'b']);
});
