import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captionCounter, captionLength, MAX_CAPTION } from '../lib/caption.js';

test('the counter counts UTF-16 code units, as the API does', () => {
  assert.equal(captionLength('hello'), 5);
  assert.equal(captionLength('🎬'), 2, 'an emoji outside the BMP counts two');
  assert.equal(captionLength('é'), 1);
  assert.equal(captionLength('e\u0301'), 2, 'a combining accent counts on its own');
  assert.equal(captionLength(null), 0);
});

test('the counter text and its limits', () => {
  assert.deepEqual(captionCounter('Hello world!'), { length: 12, text: '12 / 2,200', over: false, near: false, remaining: 2188 });
  const full = 'x'.repeat(MAX_CAPTION);
  assert.equal(captionCounter(full).over, false);
  assert.equal(captionCounter(full).near, true);
  const over = 'x'.repeat(MAX_CAPTION - 1) + '🎬';
  assert.equal(captionCounter(over).text, '2,201 / 2,200');
  assert.equal(captionCounter(over).over, true);
  assert.equal(captionCounter(over).remaining, -1);
});
