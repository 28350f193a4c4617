// The Watch folders view: add (native folder picker), pause / resume, remove; per folder what
// it took, what it skipped and why (from the store's tally, kept live by `watch-report`s).

import { invoke, listen, errorText } from '../ipc.js';
import { h, showError, debounce } from '../dom.js';
import { baseName, count } from '../lib/format.js';

let watches = [];
/** watch id → latest live reports (newest first), for the activity list. */
const feed = new Map();
const FEED_MAX = 6;

function reportLine(rep) {
  switch (rep.type) {
    case 'queued': return { kind: 'queued', label: 'Taken', file: rep.files.map(baseName).join(', '), why: `queued as post ${rep.postId}` };
    case 'skipped': return { kind: 'skipped', label: 'Skipped', file: baseName(rep.path), why: rep.message };
    case 'refused': return { kind: 'refused', label: 'Refused', file: baseName(rep.path), why: rep.message };
    case 'fitIssues': return { kind: 'skipped', label: 'Fit', file: baseName(rep.path), why: `uploading anyway: ${rep.issues.join('; ')}` };
    case 'moved': return { kind: 'queued', label: 'Moved', file: baseName(rep.from), why: 'moved to Uploaded/' };
    case 'problem': return { kind: 'problem', label: 'Problem', file: baseName(rep.path || ''), why: rep.message };
    default: return null;
  }
}

function renderWatch(w) {
  const skipped = w.tally.duplicates + w.tally.refused;
  const live = (feed.get(w.id) ?? []).map(reportLine).filter(Boolean);
  const stored = w.tally.recent.map((d) => ({
    kind: d.outcome, label: d.outcome === 'duplicate' ? 'Skipped' : 'Refused', file: baseName(d.path), why: d.detail ?? d.outcome,
  }));
  const seen = new Set();
  const lines = [...live, ...stored].filter((l) => {
    const key = `${l.label}|${l.file}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).slice(0, FEED_MAX);
  const pauseLabel = w.paused ? 'Resume' : 'Pause';
  return h('article', {
    class: `watch-row${w.paused ? ' paused' : ''}`, role: 'listitem', 'data-path': w.folder, 'data-watch-id': String(w.id),
  },
  h('div', { class: 'watch-head' },
    h('div', { class: 'watch-icon', 'aria-hidden': 'true' }, w.paused ? '❚❚' : '◎'),
    h('div', {},
      h('div', { class: 'watch-path' }, w.folder),
      h('div', { class: 'watch-sub' },
        `${w.paused ? 'Paused' : w.running ? 'Watching' : 'Starting…'} · ${w.grouping === 'slideshow' ? 'subfolders become slideshows' : 'one post per file'} · settles after ${(w.settleMs / 1000).toFixed(1)} s`)),
    h('div', { class: 'actions' },
      h('button', {
        class: 'watch-pause button button-small', 'aria-label': `${pauseLabel} watching ${w.folder}`,
        onclick: () => setPaused(w, !w.paused),
      }, pauseLabel),
      h('button', {
        class: 'watch-remove button button-small', 'aria-label': `Stop watching ${w.folder}`,
        onclick: () => remove(w),
      }, 'Remove'))),
  h('div', { class: 'watch-stats' },
    h('div', { class: 'stat taken' }, h('span', { class: 'num watch-taken' }, count(w.tally.taken)), h('span', { class: 'lbl' }, 'taken')),
    h('div', { class: 'stat skipped' }, h('span', { class: 'num watch-skipped' }, count(skipped)),
      h('span', { class: 'lbl' }, `skipped (${w.tally.duplicates} duplicate, ${w.tally.refused} refused)`))),
  lines.length ? h('ul', { class: 'watch-log', 'aria-label': 'Recent activity' }, lines.map((l) =>
    h('li', {}, h('span', { class: `kind ${l.kind}` }, l.label), h('span', { class: 'file', title: l.file }, l.file), h('span', {}, l.why)))) : null);
}

function paint() {
  document.getElementById('watch-empty').hidden = watches.length > 0;
  document.getElementById('watch-list').replaceChildren(...watches.map(renderWatch));
  const nav = document.getElementById('nav-watch-count');
  const active = watches.filter((w) => !w.paused).length;
  nav.hidden = active === 0;
  nav.textContent = count(active);
}

/** Reloads the watches from the engine. */
export async function reloadWatches() {
  try {
    watches = await invoke('watch_list');
    paint();
  } catch (e) {
    showError(errorText(e));
  }
}

async function setPaused(w, paused) {
  try {
    await invoke('watch_set_paused', { id: w.id, paused });
    await reloadWatches();
  } catch (e) {
    showError(errorText(e));
  }
}

async function remove(w) {
  try {
    await invoke('watch_remove', { id: w.id });
    feed.delete(w.id);
    await reloadWatches();
  } catch (e) {
    showError(errorText(e));
  }
}

const reloadSoon = debounce(reloadWatches, 250);

/** Wires the view. */
export function initWatch() {
  document.getElementById('watch-add').addEventListener('click', async () => {
    try {
      const added = await invoke('watch_add', {});
      if (added) await reloadWatches();
    } catch (e) {
      showError(errorText(e));
    }
  });
  listen('watch-report', ({ watchId, report }) => {
    if (report.type === 'watching' || report.type === 'rescanned') { reloadSoon(); return; }
    const list = [report, ...(feed.get(watchId) ?? [])].slice(0, FEED_MAX);
    feed.set(watchId, list);
    reloadSoon();
  });
  return reloadWatches();
}
