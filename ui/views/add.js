// The Add view: the drop zone, a card per file with its thumbnail, figures, platform badges,
// fit issues and hard errors; the per-file / slideshow switch with reorderable slides; the
// batch caption with its counter; the destination picker (Layers content, the media library,
// Loops); "Add from URL"; Upload. A video that misses a platform may get a fitted copy
// (views/fit.js); the batch uploads whichever file each card shows.

import { invoke, assetUrl, errorText } from '../ipc.js';
import { h, showError } from '../dom.js';
import { figures, baseName, count } from '../lib/format.js';
import { captionCounter } from '../lib/caption.js';
import { moveItem } from '../lib/virtual.js';
import { VList } from './vlist.js';
import { shown } from '../lib/fit.js';
import { initFit, checkFit, converting, fitLine, fitAction, framePreview } from './fit.js';

const PLATFORM_NAMES = { tiktok: 'TikTok', instagram: 'Instagram' };
const CARD_HEIGHT = 122;

/** Pending files, in order: `{path, r, fit?}` with `r` the engine's inspection and `fit` the
 * "Make it fit" state (views/fit.js). An item is replaced, never changed, when it must re-render. */
let items = [];
let grouping = 'per-file';
const thumbs = new Map(); // path → asset URL, or null while loading / when none
let list;
let onQueued = () => {};
let loopsReady = true;

/** The picked destination: `layers-content`, `layers-media:KIND` or `loops`. */
function destination() {
  return document.getElementById('destination').value;
}

/** Grouping and caption are Layers content's: the media library and Loops take files one by one. */
function isContent() {
  return destination() === 'layers-content';
}

function destinationNote() {
  const d = destination();
  if (d === 'loops') {
    return `Each image becomes a Loops email asset (JPEG, PNG, GIF or WebP up to 4 MB); captions and grouping do not apply.${
      loopsReady ? '' : ' A Loops API key is needed: set LOOPS_API_KEY or run “layers-upload login --loops”; until then these uploads wait in the queue.'}`;
  }
  if (d.startsWith('layers-media:')) {
    return 'Each file goes to the Layers media library on its own; captions and grouping do not apply.';
  }
  return '';
}

/** Told by the app when the connection changes: whether Loops uploads can run. */
export function setLoopsReady(ready) {
  loopsReady = ready;
  if (list) refresh();
}

function kindOf(r) {
  return r?.kind ?? 'unknown';
}

function fitIssues(r) {
  const seen = new Set();
  for (const f of r.platformFit ?? []) for (const i of f.issues) seen.add(i);
  return [...seen];
}

/** Cards that would be uploaded (no hard error) and those that would not. */
function split() {
  // The media library and Loops check each file against their own rules (audio, logos…): a
  // file that breaks them is queued as failed with the reason, so every card goes.
  const ok = isContent() ? items.filter((it) => (shown(it).r.errors ?? []).length === 0) : items.slice();
  return { ok, bad: items.length - ok.length };
}

function requestThumb({ path, r }) {
  const kind = kindOf(r);
  if (thumbs.has(path) || (kind !== 'image' && kind !== 'video')) return;
  thumbs.set(path, null);
  invoke('thumbnail', { path, kind })
    .then((p) => {
      thumbs.set(path, assetUrl(p));
      // A card shows its original or its fitted copy: find it by the file it shows.
      const card = `.card[data-shown-path="${CSS.escape(path)}"]`;
      const imgs = document.querySelectorAll(`${card} img.thumb, ${card} img.frame-img`);
      for (const img of imgs) img.src = thumbs.get(path);
    })
    .catch(() => {});
}

/** Replaces a card's fit state (and so the card): called by views/fit.js. */
function setFit(path, fit) {
  const i = items.findIndex((x) => x.path === path);
  if (i < 0) return;
  items[i] = { ...items[i], fit };
  refresh();
}

function renderCard(it, index) {
  const file = shown(it);
  const r = file.r;
  const kind = kindOf(r);
  const name = baseName(file.path);
  const slideshow = grouping === 'slideshow' && isContent();
  const issues = fitIssues(r);
  const errors = r.errors ?? [];
  requestThumb(file);
  checkFit(it);
  const img = h('img', { class: 'thumb', alt: '', loading: 'lazy', decoding: 'async' });
  if (thumbs.get(file.path)) img.src = thumbs.get(file.path);
  const line = fitLine(it);
  const action = fitAction(it);
  const isCopy = file.path !== it.path;
  const badges = (r.platformFit ?? []).map((f) =>
    h('span', {
      class: 'badge', 'data-platform': f.platform, 'data-ok': String(f.ok),
      title: f.ok ? `Fits ${PLATFORM_NAMES[f.platform] ?? f.platform}` : f.issues.join('\n'),
    }, h('span', { class: 'mark', 'aria-hidden': 'true' }, f.ok ? '✓' : '!'),
    `${PLATFORM_NAMES[f.platform] ?? f.platform}${f.ok ? '' : ` · ${f.issues.length} issue${f.issues.length === 1 ? '' : 's'}`}`),
  );
  const card = h('article', {
    class: `card${errors.length ? ' has-error' : ''}${kind === 'image' ? ' has-frames' : ''}`,
    role: 'listitem',
    tabindex: '0',
    'data-key': it.path,
    'data-path': it.path,
    'data-shown-path': file.path,
    'data-fit': it.fit?.state ?? null,
    'data-kind': kind,
    draggable: slideshow ? 'true' : null,
    'aria-label': `${slideshow ? `Slide ${index + 1}: ` : ''}${name}`,
  },
  h('div', { class: 'thumb-wrap' },
    h('span', { class: 'kind-glyph', 'aria-hidden': 'true' }, kind === 'video' ? '▶' : kind === 'image' ? '▣' : '?'),
    img,
    slideshow ? h('span', { class: 'slide-number' }, index + 1) : null,
    kind === 'video' ? h('span', { class: 'play-glyph', 'aria-hidden': 'true' }, '▶') : null),
  h('div', { class: 'card-body' },
    h('div', { class: 'card-title' }, h('span', { class: 'name', title: file.path }, name),
      isCopy ? h('span', { class: 'chip tone-ok', title: `Made from ${baseName(it.path)}` }, 'Fitted copy') : null),
    h('div', { class: 'figures' }, figures(r)),
    badges.length ? h('div', { class: 'badges' }, badges) : null,
    line ?? (issues.length ? h('ul', { class: 'issues', title: issues.join('\n'), 'aria-label': 'Platform fit issues' },
      issues.map((i) => h('li', {}, i))) : null),
    errors.length ? h('p', { class: 'error', title: errors.map((e) => e.message).join('\n') },
      errors.map((e) => e.message).join(' ')) : null),
  kind === 'image' ? framePreview(r, thumbs.get(file.path)) : null,
  h('div', { class: 'card-side' },
    h('button', {
      class: 'icon-button card-remove', 'aria-label': `Remove ${name}`, title: 'Remove',
      onclick: () => {
        if (it.fit?.state === 'converting') invoke('make_fit_cancel', { path: it.path }).catch(() => {});
        items = items.filter((x) => x.path !== it.path);
        refresh();
      },
    }, '×'),
    action,
    slideshow ? h('span', { class: 'icon-button drag-handle', 'aria-hidden': 'true', title: 'Drag to reorder' }, '⋮⋮') : null));
  if (slideshow) wireReorder(card, it);
  return card;
}

function move(it, delta) {
  const from = items.indexOf(it);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= items.length) return;
  items = moveItem(items, from, to);
  list.set(items);
  list.paint();
  document.querySelector(`.card[data-path="${CSS.escape(it.path)}"]`)?.focus();
  announce(`${baseName(it.path)} moved to slide ${to + 1} of ${items.length}`);
}

function wireReorder(card, it) {
  card.addEventListener('keydown', (e) => {
    if (!e.altKey || e.target !== card) return;
    if (e.key === 'ArrowUp') { e.preventDefault(); move(it, -1); }
    if (e.key === 'ArrowDown') { e.preventDefault(); move(it, +1); }
  });
  card.addEventListener('dragstart', (e) => {
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', it.path);
    card.classList.add('dragging');
  });
  card.addEventListener('dragend', () => card.classList.remove('dragging'));
  card.addEventListener('dragover', (e) => { e.preventDefault(); card.classList.add('drop-target'); });
  card.addEventListener('dragleave', () => card.classList.remove('drop-target'));
  card.addEventListener('drop', (e) => {
    e.preventDefault();
    card.classList.remove('drop-target');
    const from = items.findIndex((x) => x.path === e.dataTransfer.getData('text/plain'));
    const to = items.indexOf(it);
    if (from >= 0 && to >= 0 && from !== to) {
      items = moveItem(items, from, to);
      refresh();
    }
  });
}

function announce(text) {
  document.getElementById('add-summary').textContent = text;
}

function summaryText() {
  const { ok, bad } = split();
  const fits = ok.filter((it) => (shown(it).r.platformFit ?? []).every((f) => f.ok)).length;
  const parts = [`${count(items.length)} file${items.length === 1 ? '' : 's'}`];
  if (ok.length) parts.push(`${count(fits)} fit both platforms`);
  if (bad) parts.push(`${count(bad)} cannot be uploaded`);
  return parts.join(' · ');
}

function updateComposer() {
  const caption = document.getElementById('caption');
  const c = captionCounter(caption.value);
  const counter = document.getElementById('caption-count');
  counter.textContent = c.text;
  counter.classList.toggle('over', c.over);
  counter.classList.toggle('near', c.near);
  caption.setAttribute('aria-invalid', String(c.over));
  const { ok, bad } = split();
  const upload = document.getElementById('upload');
  const note = document.getElementById('upload-note');
  let problem = '';
  if (!isContent()) problem = ok.length ? '' : 'Nothing here can be uploaded.';
  else if (c.over) problem = `The caption is ${-c.remaining} too long.`;
  else if (!ok.length) problem = 'Nothing here can be uploaded.';
  else if (converting(items)) problem = 'Waiting for “Make it fit” to finish (or Cancel it).';
  else if (grouping === 'slideshow' && ok.some((it) => it.r.kind === 'video')) problem = 'Slideshows are images only: remove the videos or upload per file.';
  else if (grouping === 'slideshow' && ok.length > 10) problem = `A slideshow takes at most 10 images; ${ok.length} are here.`;
  upload.disabled = Boolean(problem);
  const posts = grouping === 'slideshow' && isContent() ? 1 : ok.length;
  upload.textContent = posts > 1 ? `Upload ${count(posts)} posts` : 'Upload';
  note.textContent = problem || (bad ? `${bad} file${bad === 1 ? '' : 's'} with errors stay${bad === 1 ? 's' : ''} here.` : '');
}

function refresh() {
  const has = items.length > 0;
  document.getElementById('view-add').classList.toggle('has-cards', has);
  document.getElementById('add-toolbar').hidden = !has;
  document.getElementById('composer').hidden = !has;
  const content = isContent();
  document.getElementById('slideshow-hint').hidden = !(has && content && grouping === 'slideshow');
  for (const id of ['grouping-per-file', 'grouping-slideshow', 'caption']) {
    document.getElementById(id).disabled = !content;
  }
  document.getElementById('caption').closest('.caption-field').hidden = !content;
  const note = document.getElementById('destination-note');
  note.textContent = destinationNote();
  note.hidden = !(has && note.textContent);
  const navCount = document.getElementById('nav-add-count');
  navCount.hidden = !has;
  navCount.textContent = count(items.length);
  announce(summaryText());
  list.set(items);
  list.paint();
  updateComposer();
}

/** Adds granted paths (drop, dialog): inspects them and appends their cards. */
export async function addPaths(paths) {
  if (!paths?.length) return;
  announce(`Checking ${count(paths.length)} item${paths.length === 1 ? '' : 's'}…`);
  try {
    const found = await invoke('inspect_paths', { paths });
    const known = new Set(items.map((it) => it.path));
    for (const r of found) {
      if (!known.has(r.path)) {
        items.push({ path: r.path, r });
        known.add(r.path);
      }
    }
  } catch (e) {
    showError(errorText(e));
  }
  refresh();
}

async function upload() {
  const { ok } = split();
  const button = document.getElementById('upload');
  button.disabled = true;
  try {
    const reply = await invoke('enqueue', {
      request: {
        paths: ok.map((it) => shown(it).path),
        grouping: isContent() ? grouping : 'per-file',
        caption: isContent() ? document.getElementById('caption').value : '',
        destination: destination(),
      },
    });
    const sent = new Set(ok.map((it) => it.path));
    items = items.filter((it) => !sent.has(it.path));
    if (isContent()) document.getElementById('caption').value = '';
    refresh();
    onQueued(reply);
  } catch (e) {
    showError(errorText(e));
    updateComposer();
  }
}

/** "Add from URL": the URLs (one per line or space-separated) become one URL-fetch post. */
async function addFromUrl(e) {
  e.preventDefault();
  const field = document.getElementById('add-url');
  const note = document.getElementById('add-url-note');
  const urls = field.value.split(/\s+/).filter(Boolean);
  if (!urls.length) {
    note.textContent = 'Paste one or more https URLs first.';
    return;
  }
  const button = document.getElementById('add-url-submit');
  button.disabled = true;
  note.textContent = '';
  try {
    const reply = await invoke('enqueue_url', {
      request: { urls, caption: document.getElementById('add-url-caption').value },
    });
    field.value = '';
    document.getElementById('add-url-caption').value = '';
    note.textContent = `Queued: Layers fetches ${urls.length === 1 ? 'the URL' : `all ${urls.length} URLs`} in one call (all or nothing). A link that expired reads as “could not be fetched”.`;
    onQueued(reply);
  } catch (err) {
    note.textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

/** Wires the view; `queued(reply)` is told after a successful Upload. */
export function initAdd({ queued }) {
  onQueued = queued;
  initFit({ get: (path) => items.find((x) => x.path === path), set: setFit, announce });
  list = new VList(document.getElementById('cards-viewport'), document.getElementById('cards'), CARD_HEIGHT, renderCard, (it) => it.path);
  const pick = async (cmd) => {
    try {
      await addPaths(await invoke(cmd));
    } catch (e) {
      showError(errorText(e));
    }
  };
  document.getElementById('add-files').addEventListener('click', () => pick('pick_files'));
  document.getElementById('add-folder').addEventListener('click', () => pick('pick_folder'));
  const zone = document.getElementById('dropzone');
  zone.addEventListener('click', () => pick('pick_files'));
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick('pick_files'); }
  });
  for (const id of ['grouping-per-file', 'grouping-slideshow']) {
    document.getElementById(id).addEventListener('change', (e) => {
      // Cards become slides (draggable, numbered) or posts again: rebuild every row.
      if (e.target.checked) { grouping = e.target.value; list.invalidate(); refresh(); }
    });
  }
  document.getElementById('caption').addEventListener('input', updateComposer);
  document.getElementById('destination').addEventListener('change', () => { list.invalidate(); refresh(); });
  document.getElementById('add-url-form').addEventListener('submit', addFromUrl);
  document.getElementById('upload').addEventListener('click', upload);
  document.getElementById('clear-cards').addEventListener('click', () => { items = []; refresh(); });
  refresh();
}
