// The caption counter: Layers publishes at most 2,200 characters, counted as UTF-16 code units
// (what JavaScript's `length` counts, and the strictest reading: an emoji counts 2).

export const MAX_CAPTION = 2200;

/** UTF-16 code units of a caption. */
export function captionLength(text) {
  return String(text ?? '').length;
}

/** The counter: `text` like `12 / 2,200`, `over` when too long, `near` in the last 10%. */
export function captionCounter(text) {
  const n = captionLength(text);
  const fmt = (x) => x.toLocaleString('en-US');
  return {
    length: n,
    text: `${fmt(n)} / ${fmt(MAX_CAPTION)}`,
    over: n > MAX_CAPTION,
    near: n > MAX_CAPTION * 0.9 && n <= MAX_CAPTION,
    remaining: MAX_CAPTION - n,
  };
}
