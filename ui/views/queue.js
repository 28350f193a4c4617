// The Queue view: every post with its state, per-file and overall progress (rate, ETA),
// pause / resume / cancel / retry, each post's destination, what a completed post became
// (content id, media asset id, Loops final URL, copyable) and a caption fix for content.
// It is rebuilt from the engine (`queue_list`) and kept live by `queue-event`s.

import { invoke, listen, errorText } from '../ipc.js';
import { h, showError, perFrame, debounce } from '../dom.js';
import { count, etaText, rateText, humanBytes } from '../lib/format.js';
import { overall, overallText, stateText, actionsFor, stateTone, postBytes, destinationLabel } from '../lib/queue-model.js';
import { captionCounter } from '../lib/caption.js';
import { VList } from './vlist.js';

const ROW_HEIGHT = 118;

/** id → row (engine `QueueRow`); replaced (never mutated) so the list can reuse rows. */
const rows = new Map();
/** id → { filename → last progress event }. */
const progress = new Map();
let order = [];
let list;
let editing = null; // post id whose caption is being fixed
/** id → the runner's last note on a post that waits where it is (no Loops key…). */
const notes = new Map();

/** What a completed post became: its id (and for Loops the public URL to copy). */
function resultLine(row) {
  if (row.state !== 'completed') return [h('span', { class: 'content-id' }, '')];
  if (row.destination === 'loops') {
    const url = row.finalUrl ?? '';
    const shown = h('span', { class: 'content-id final-url', title: 'Loops email asset URL (select or copy it)' }, url);
    const copy = h('button', {
      class: 'button button-small copy-url', 'aria-label': `Copy ${url}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(url);
          copy.textContent = 'Copied';
        } catch {
          getSelection()?.selectAllChildren(shown);
          showError('Could not copy: the URL is selected, press Ctrl+C.');
        }
      },
    }, 'Copy URL');
    return [shown, copy];
  }
  if (row.destination?.startsWith('layers-media:')) {
    return [h('span', { class: 'content-id asset-id', title: 'Media library asset id' }, row.assetId ?? '')];
  }
  return [
    h('span', { class: 'content-id', title: 'Layers content id' }, row.containerId ?? ''),
    h('button', {
      class: 'link-button caption-fix', onclick: () => { editing = row.id; rerender(row.id); },
    }, 'Fix caption'),
  ];
}

function sortRows() {
  // Newest batch first; a batch's posts in their own order.
  const firstOfBatch = new Map();
  for (const r of rows.values()) {
    firstOfBatch.set(r.batchId, Math.min(firstOfBatch.get(r.batchId) ?? Infinity, r.id));
  }
  order = [...rows.values()].sort((a, b) =>
    (firstOfBatch.get(b.batchId) - firstOfBatch.get(a.batchId)) || (a.id - b.id));
}

function fileLine(row, f) {
  const live = progress.get(row.id)?.[f.filename];
  const done = f.putConfirmed || ['completed', 'skipped'].includes(row.state);
  const sent = done ? f.sizeBytes : Math.min(f.sizeBytes, live?.bytesSent ?? 0);
  const moving = !done && live && row.state === 'uploading' && live.bytesSent < live.totalBytes;
  const detail = done ? humanBytes(f.sizeBytes)
    : moving ? `${rateText(live.rateBps)} · ${etaText(live.etaMs)} left`
    : `${humanBytes(sent)} of ${humanBytes(f.sizeBytes)}`;
  return h('div', { class: 'qi-file' },
    h('span', { class: 'fname', title: f.path }, f.filename),
    h('progress', {
      class: `small file-progress${done ? ' ok' : ''}`, max: String(Math.max(1, f.sizeBytes)), value: String(sent),
      'aria-label': `${f.filename} upload progress`,
    }),
    h('span', { class: 'frate' }, detail));
}

async function act(action, ids) {
  try {
    const changed = await invoke('queue_action', { action, ids });
    for (const r of changed) rows.set(r.id, r);
    schedule();
  } catch (e) {
    showError(errorText(e));
  }
}

function captionEditor(row) {
  const input = h('input', { type: 'text', class: 'caption-input', value: row.caption, 'aria-label': 'New caption' });
  const save = h('button', {
    class: 'button button-small button-primary caption-save',
    onclick: async () => {
      if (captionCounter(input.value).over) { showError('The caption is over 2,200 characters.'); return; }
      save.disabled = true;
      try {
        rows.set(row.id, await invoke('fix_caption', { postId: row.id, caption: input.value }));
        editing = null;
        schedule();
      } catch (e) {
        save.disabled = false;
        showError(errorText(e));
      }
    },
  }, 'Save');
  const cancel = h('button', { class: 'button button-small caption-cancel', onclick: () => { editing = null; rerender(row.id); } }, 'Cancel');
  queueMicrotask(() => input.focus());
  return h('div', { class: 'caption-edit' }, input, save, cancel);
}

function rerender(id) {
  const r = rows.get(id);
  if (r) rows.set(id, { ...r });
  schedule();
}

function renderRow(row) {
  const a = actionsFor(row.state);
  const names = row.files.length ? row.files.map((f) => f.filename) : row.sourceUrls ?? [];
  const title = names.length > 1
    ? `${row.grouping === 'slideshow' ? 'Slideshow' : 'Post'} · ${names[0]} +${names.length - 1}`
    : names[0] ?? `Post ${row.id}`;
  const live = progress.get(row.id) ?? {};
  const sent = postBytes(row, live);
  const tone = stateTone(row.state);
  const button = (cls, label, action) => h('button', {
    class: `${cls} button button-small`, hidden: !a[action], onclick: () => act(action, [row.id]),
    'aria-label': `${label} ${title}`,
  }, label);
  return h('article', {
    class: 'queue-item', role: 'listitem', tabindex: '0',
    'data-key': String(row.id), 'data-post-id': String(row.id), 'data-state': row.state,
  },
  h('div', { class: 'qi-main' },
    h('div', { class: 'qi-title' },
      h('span', { class: `chip tone-${tone}` }, row.state),
      h('span', { class: 'name', title: row.files.length ? row.files.map((f) => f.path).join('\n') : names.join('\n') }, title),
      row.machine ? h('span', { class: 'machine-label', title: `Worked on ${row.machine} (shared queue)` }, row.machine) : null,
      h('span', { class: 'destination-label' }, destinationLabel(row.destination))),
    h('div', { class: 'state-text', title: stateText(row) },
      row.state === 'uploading' ? `Uploading · ${humanBytes(sent)} of ${humanBytes(row.totalBytes)}`
        : row.state === 'queued' && notes.has(row.id) ? `Queued · ${notes.get(row.id)}` : stateText(row)),
    // A completed post needs no bars: its line shows the content id (and the caption fix).
    row.files.length > 1 && row.state !== 'completed'
      ? h('progress', {
        class: `post-progress${tone === 'ok' ? ' ok' : ''}`, max: String(Math.max(1, row.totalBytes)), value: String(sent),
        'aria-label': 'Post upload progress',
      })
      : null,
    row.state === 'completed' ? null : h('div', { class: 'qi-files' }, row.files.map((f) => fileLine(row, f))),
    editing === row.id ? captionEditor(row) : h('div', { class: 'qi-meta' }, ...resultLine(row))),
  h('div', { class: 'qi-actions' },
    button('pause', 'Pause', 'pause'),
    button('resume', 'Resume', 'resume'),
    button('retry', 'Retry', 'retry'),
    button('cancel', 'Cancel', 'cancel')));
}

const paintSummary = () => {
  const o = overall(order, progress);
  const bar = document.getElementById('overall-progress');
  bar.max = Math.max(1, o.total);
  bar.value = o.done;
  bar.classList.toggle('ok', o.posts > 0 && o.finished === o.posts);
  document.getElementById('overall-text').textContent = overallText(o);
  document.getElementById('queue-empty').hidden = rows.size > 0;
  const active = order.filter((r) => !['completed', 'skipped', 'cancelled', 'failed', 'blocked'].includes(r.state)).length;
  const nav = document.getElementById('nav-queue-count');
  nav.hidden = active === 0;
  nav.textContent = count(active);
};

const schedule = perFrame(() => {
  sortRows();
  list.set(order);
  list.paint();
  paintSummary();
});

/** Reloads every post from the engine. */
export async function reload() {
  try {
    const all = await invoke('queue_list');
    rows.clear();
    for (const r of all) rows.set(r.id, r);
    schedule();
  } catch (e) {
    showError(errorText(e));
  }
}

const reloadSoon = debounce(reload, 150);

function onEvent(ev) {
  if (ev.type === 'progress') {
    const files = { ...(progress.get(ev.postId) ?? {}) };
    files[ev.file] = ev;
    progress.set(ev.postId, files);
    const r = rows.get(ev.postId);
    if (r) rows.set(ev.postId, { ...r }); // a new object: this row repaints
    schedule();
  } else if (ev.type === 'postState') {
    const r = rows.get(ev.postId);
    if (!r) { reloadSoon(); return; }
    const next = { ...r, state: ev.state, error: ev.error ?? null, nextAttemptAt: ev.nextAttemptAt ?? null };
    if (ev.note && ev.note.startsWith('left in the queue')) notes.set(ev.postId, ev.note);
    else if (ev.state !== 'queued') notes.delete(ev.postId);
    rows.set(ev.postId, next);
    if (['completed', 'failed', 'blocked', 'skipped'].includes(ev.state)) {
      document.getElementById('queue-announcer').textContent = `${next.files[0]?.filename ?? `Post ${ev.postId}`}: ${ev.state}`;
      // Confirmed files, content id and caption come from the store.
      reloadSoon();
    }
    if (ev.state === 'uploaded') reloadSoon();
    schedule();
  } else if (ev.type === 'batchFinished') {
    reloadSoon();
  }
}

/** Wires the view and starts listening. */
export function initQueue() {
  list = new VList(document.getElementById('queue-viewport'), document.getElementById('queue-list'), ROW_HEIGHT, renderRow, (r) => r.id);
  document.getElementById('queue-pause-all').addEventListener('click', () => act('pause', []));
  document.getElementById('queue-resume-all').addEventListener('click', () => act('resume', []));
  listen('queue-event', onEvent);
  listen('queue-resync', reloadSoon);
  return reload();
}
