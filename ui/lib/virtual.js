// Which rows of a long list to render: only those in view (plus a few either side), so a
// 1,000-post batch scrolls as smoothly as a 10-post one.

/**
 * The slice to render for fixed-height rows.
 * @returns {{start:number, end:number, offset:number, total:number}} `start` inclusive,
 * `end` exclusive, `offset` px of the first rendered row, `total` px of all rows.
 */
export function visibleRange({ count, rowHeight, scrollTop, viewportHeight, overscan = 4 }) {
  const total = Math.max(0, count) * rowHeight;
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0, total: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const inView = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(count - 1, first) - overscan);
  const end = Math.min(count, first + inView + overscan);
  return { start, end, offset: start * rowHeight, total };
}

/** Moves the item at `from` to `to` (a new array); out-of-range moves change nothing. */
export function moveItem(list, from, to) {
  if (from === to || from < 0 || to < 0 || from >= list.length || to >= list.length) {
    return list.slice();
  }
  const out = list.slice();
  const [item] = out.splice(from, 1);
  out.splice(to, 0, item);
  return out;
}
