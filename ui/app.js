// The window: navigation, the connection banner, native drops, and the first-paint signal.
// The UI keeps no state the engine does not have: it rebuilds from commands on every launch.

import { invoke, listen, onDragHover, errorText } from './ipc.js';
import { showError } from './dom.js';
import { initAdd, addPaths, setLoopsReady } from './views/add.js';
import { initQueue } from './views/queue.js';
import { initWatch, reloadWatches } from './views/watch.js';
import { initSettings, loadSettings, showKey } from './views/settings.js';
import { connectionLabel, statusBanner } from './lib/connection.js';

const VIEWS = ['add', 'queue', 'watch', 'settings'];

function show(view) {
  for (const v of VIEWS) {
    document.getElementById(`view-${v}`).hidden = v !== view;
    const nav = document.getElementById(`nav-${v}`);
    if (v === view) nav.setAttribute('aria-current', 'page');
    else nav.removeAttribute('aria-current');
  }
  if (view === 'settings') loadSettings();
  if (view === 'watch') reloadWatches();
}

let lastStatus = null;

/** The connection banner, redrawn every second while it counts down to the next try. */
function showBanner() {
  const b = statusBanner(lastStatus, Date.now());
  const el = document.getElementById('runner-banner');
  el.hidden = !b;
  if (!b) return;
  el.className = `banner banner-${b.tone}`;
  el.dataset.mode = lastStatus.mode;
  document.getElementById('runner-text').textContent = b.text;
  document.getElementById('runner-detail').textContent = b.detail;
  document.getElementById('runner-retry').hidden = !b.retry;
}

async function retryConnect() {
  const button = document.getElementById('runner-retry');
  button.disabled = true;
  try {
    showStatus(await invoke('reconnect'));
  } catch (e) {
    // The status banner says what went wrong when it can; the error banner only otherwise.
    const s = await invoke('app_status').catch(() => null);
    if (s) showStatus(s);
    if (!statusBanner(s)) showError(errorText(e));
  } finally {
    button.disabled = false;
  }
}

function showStatus(s) {
  const banner = document.getElementById('sandbox-banner');
  const sandbox = s.mode === 'sandbox';
  banner.hidden = !sandbox;
  if (sandbox) {
    banner.dataset.apiBase = s.apiBase ?? '';
    banner.dataset.project = s.projectId ?? '';
  }
  lastStatus = s;
  showBanner();
  const conn = document.getElementById('connection');
  const { label, tone } = connectionLabel(s.mode);
  conn.replaceChildren();
  const dot = document.createElement('span');
  dot.className = `dot ${tone}`;
  conn.append(dot, label);
  if (s.organization && s.mode === 'live') conn.append(document.createElement('br'), s.organization);
  showKey(s);
  setLoopsReady(Boolean(s.loops));
}

async function main() {
  for (const v of VIEWS) document.getElementById(`nav-${v}`).addEventListener('click', () => show(v));
  document.getElementById('settings-open').addEventListener('click', () => show('settings'));
  document.getElementById('error-dismiss').addEventListener('click', () => {
    document.getElementById('error-banner').hidden = true;
  });
  initAdd({ queued: () => show('queue') });
  initSettings({ connected: showStatus });
  document.getElementById('runner-retry').addEventListener('click', retryConnect);
  setInterval(() => { if (lastStatus?.mode === 'unreachable') showBanner(); }, 1000);
  listen('status', showStatus);
  listen('paths-granted', (paths) => {
    show('add');
    addPaths(paths);
  });
  onDragHover((type) => document.body.classList.toggle('dragging', type === 'enter' || type === 'over'));
  const status = await invoke('app_status').catch((e) => { showError(errorText(e)); return null; });
  if (status) showStatus(status);
  await Promise.all([initQueue(), initWatch()]);
  // First paint of the initial UI: two frames after the first render.
  requestAnimationFrame(() => requestAnimationFrame(() => invoke('ui_ready').catch(() => {})));
}

main();
