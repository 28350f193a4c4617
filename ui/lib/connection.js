// What the window says about the connection: the sidebar label and the banner, from the
// engine's status. Pure (no DOM, no Tauri) so node can test it.

const LABELS = {
  live: 'Connected to Layers',
  sandbox: 'Offline sandbox',
  connecting: 'Connecting…',
  offline: 'Not connected',
  keyring: 'Keyring locked',
  unreachable: 'Layers unreachable',
};

/** The sidebar label and its dot's tone (`ok`, `warn`, `bad` or none). */
export function connectionLabel(mode) {
  const tone = mode === 'live' ? 'ok'
    : mode === 'sandbox' || mode === 'unreachable' ? 'warn'
      : mode === 'connecting' ? '' : 'bad';
  return { label: LABELS[mode] ?? String(mode), tone };
}

/** `20 s`, `2 min` (rounded up, never `0 s`). */
export function waitText(ms) {
  const secs = Math.max(1, Math.ceil(Math.max(0, ms) / 1000));
  return secs < 60 ? `${secs} s` : `${Math.ceil(secs / 60)} min`;
}

/** The sentence while Layers does not answer, counting down to the next try. */
export function unreachableText(waiting, retryAtMs, nowMs) {
  const n = Number(waiting) || 0;
  const posts = n === 1 ? 'post' : 'posts';
  const left = retryAtMs - nowMs;
  const next = left > 0 ? `next try in ${waitText(left)}` : 'trying again now…';
  return `Layers unreachable, ${n} ${posts} waiting, ${next}`;
}

const HELD = 'The queue is being run by another Layers Uploader (the command line). This window shows it and takes over when that one stops.';

/**
 * The status banner: `null` when none is due, else `{ text, detail, tone, retry }` where
 * `retry` offers the Retry button (keyring locked, Layers unreachable, key refused).
 */
export function statusBanner(s, nowMs = Date.now()) {
  if (!s) return null;
  if (s.mode === 'unreachable') {
    return {
      text: s.retryAtMs ? unreachableText(s.waitingPosts, s.retryAtMs, nowMs) : (s.message ?? 'Layers unreachable'),
      detail: s.detail ?? '',
      tone: 'warn',
      retry: true,
    };
  }
  if (s.mode === 'keyring') {
    return {
      text: s.message ?? 'The keyring is locked or unavailable: unlock it, then press Retry.',
      detail: '',
      tone: 'bad',
      retry: true,
    };
  }
  if (s.runner === 'held') return { text: `${HELD} ${s.message ?? ''}`.trim(), detail: '', tone: 'warn', retry: false };
  if (s.mode === 'offline' && s.message) return { text: s.message, detail: '', tone: 'bad', retry: true };
  return null;
}
