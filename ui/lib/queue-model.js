// Pure queue arithmetic: overall progress of posts from their rows and the live progress
// events, and the sentence each state shows.

import { etaText, humanBytes, rateText } from './format.js';

const ACTIVE = new Set(['queued', 'reserving', 'reserved', 'uploading', 'uploaded', 'finalizing']);
const DONE = new Set(['completed', 'skipped']);

/** True for states where work is going on or will go on by itself. */
export function isActive(state) {
  return ACTIVE.has(state) || state === 'waiting';
}

/** Bytes sent of one post: confirmed files count whole; in-flight files by their last event. */
export function postBytes(row, live = {}) {
  if (DONE.has(row.state)) return row.totalBytes;
  let sent = 0;
  for (const f of row.files) {
    if (f.putConfirmed) sent += f.sizeBytes;
    else sent += Math.min(f.sizeBytes, live[f.filename]?.bytesSent ?? 0);
  }
  return sent;
}

/**
 * Overall progress of the posts not cancelled: bytes done and total, the summed rate of the
 * files moving now, and the ETA at that rate.
 */
export function overall(rows, progress = new Map()) {
  let total = 0, done = 0, rate = 0, posts = 0, finished = 0;
  for (const row of rows) {
    if (row.state === 'cancelled') continue;
    posts += 1;
    if (DONE.has(row.state)) finished += 1;
    const live = progress.get(row.id) ?? {};
    total += row.totalBytes;
    done += postBytes(row, live);
    if (row.state === 'uploading') {
      for (const f of Object.values(live)) {
        if (f.bytesSent < f.totalBytes) rate += f.rateBps || 0;
      }
    }
  }
  const remaining = Math.max(0, total - done);
  const etaMs = rate > 0 ? (remaining / rate) * 1000 : null;
  return { total, done, rate, etaMs, posts, finished, fraction: total > 0 ? done / total : 0 };
}

/** The one-line summary under the overall bar. */
export function overallText(o) {
  if (o.posts === 0) return 'Nothing queued';
  const parts = [`${o.finished} of ${o.posts} posts done`, `${humanBytes(o.done)} of ${humanBytes(o.total)}`];
  if (o.rate > 0) parts.push(rateText(o.rate), `${etaText(o.etaMs)} left`);
  return parts.join(' · ');
}

const STATE_TEXT = {
  queued: 'Queued',
  reserving: 'Reserving upload…',
  reserved: 'Ready to upload',
  uploading: 'Uploading',
  uploaded: 'Uploaded, finishing…',
  finalizing: 'Finishing…',
  completed: 'Completed',
  failed: 'Failed',
  blocked: 'Blocked by quota',
  skipped: 'Already uploaded',
  waiting: 'Waiting to retry',
  paused: 'Paused',
  cancelled: 'Cancelled',
};

/** The sentence for a row's state, with the reason when there is one. */
export function stateText(row, now = Date.now()) {
  const base = STATE_TEXT[row.state] ?? row.state;
  if (row.state === 'waiting') {
    const wait = row.nextAttemptAt ? ` in ${etaText(Math.max(0, row.nextAttemptAt - now))}` : '';
    const why = row.error?.message ? `: ${row.error.message}` : '';
    return `Waiting to retry${wait}${why}`;
  }
  if (row.state === 'blocked') {
    return `Blocked by quota: ${row.error?.message ?? 'the project is full'}`;
  }
  if ((row.state === 'failed' || row.state === 'skipped') && row.error?.message) {
    return `${base}: ${row.error.message}`;
  }
  if (row.state === 'completed' && row.caption) return `${base} · “${row.caption}”`;
  return base;
}

/** Which buttons a row offers. */
export function actionsFor(state) {
  return {
    pause: isActive(state),
    resume: state === 'paused',
    cancel: !['completed', 'failed', 'blocked', 'skipped', 'cancelled'].includes(state),
    retry: ['failed', 'blocked', 'cancelled'].includes(state),
  };
}

/** Badge tone of a state: `ok`, `warn`, `bad` or `muted`. */
export function stateTone(state) {
  if (DONE.has(state)) return 'ok';
  if (state === 'failed') return 'bad';
  if (state === 'blocked' || state === 'waiting' || state === 'paused') return 'warn';
  if (state === 'cancelled') return 'muted';
  return 'active';
}

const MEDIA_KINDS = { image: 'image', video: 'video', audio: 'audio', logo: 'logo', reference_image: 'reference image' };

/** The short destination label of a row ("Media library · logo", "Loops", "From URL"). */
export function destinationLabel(destination) {
  if (destination === 'loops') return 'Loops';
  if (destination === 'layers-url-fetch') return 'Layers content · from URL';
  if (destination?.startsWith('layers-media:')) {
    const kind = destination.slice('layers-media:'.length);
    return `Media library · ${MEDIA_KINDS[kind] ?? kind}`;
  }
  return 'Layers content';
}
