// The Settings view: API key (keyring; only its id is shown), project, concurrency, bandwidth
// limit, settle time, and diagnostics export.

import { invoke, errorText } from '../ipc.js';

const MB = 1024 * 1024;
const $ = (id) => document.getElementById(id);

function setStatus(id, text, tone = '') {
  const el = $(id);
  el.textContent = text;
  el.className = `field-status ${tone}`;
}

/** Shows the connection's key id and mode. */
export function showKey(status) {
  $('api-key-id').textContent = status.keyId
    ? `${status.keyId}${status.mode === 'sandbox' ? ' (sandbox key)' : ''}`
    : '—';
  // A stored key can be removed while Layers refuses it or does not answer, too.
  $('api-key-clear').hidden = !['live', 'unreachable', 'offline'].includes(status.mode);
}

/** Loads the settings and the project list into the form. */
export async function loadSettings() {
  try {
    const [s, projects, status] = await Promise.all([
      invoke('settings_get'),
      invoke('projects_list').catch(() => []),
      invoke('app_status'),
    ]);
    const select = $('project-select');
    select.replaceChildren(...projects.map((p) => {
      const o = document.createElement('option');
      o.value = p.id;
      o.textContent = p.name ? `${p.name}` : p.id;
      return o;
    }));
    select.value = s.projectId ?? status.projectId ?? projects[0]?.id ?? '';
    $('concurrency').value = s.concurrency;
    $('bandwidth-limit').value = s.bandwidthLimitBps ? +(s.bandwidthLimitBps / MB).toFixed(2) : 0;
    $('settle-secs').value = s.settleSecs;
    showKey(status);
    $('autostart').checked = await invoke('autostart_get');
  } catch (e) {
    setStatus('settings-status', errorText(e), 'bad');
  }
}

/** Wires the view; `connected(status)` is told after the key changed. */
export function initSettings({ connected }) {
  $('settings-save').addEventListener('click', async () => {
    const bw = Number($('bandwidth-limit').value || 0);
    const settings = {
      projectId: $('project-select').value || null,
      concurrency: Math.round(Number($('concurrency').value)),
      bandwidthLimitBps: Math.round(bw * MB),
      settleSecs: Number($('settle-secs').value),
    };
    setStatus('settings-status', 'Saving…');
    try {
      await invoke('settings_save', { settings });
      setStatus('settings-status', 'Saved.', 'ok');
      connected(await invoke('app_status'));
    } catch (e) {
      setStatus('settings-status', errorText(e), 'bad');
    }
  });
  $('api-key-save').addEventListener('click', async () => {
    const key = $('api-key').value.trim();
    if (!key) { setStatus('api-key-status', 'Paste a key that starts with lp_live_ or lp_test_.', 'bad'); return; }
    setStatus('api-key-status', 'Checking the key with Layers…');
    try {
      const status = await invoke('api_key_save', { key });
      $('api-key').value = '';
      setStatus('api-key-status', `Saved. Connected to ${status.organization ?? 'Layers'}.`, 'ok');
      connected(status);
      await loadSettings();
    } catch (e) {
      setStatus('api-key-status', errorText(e), 'bad');
    }
  });
  $('api-key-clear').addEventListener('click', async () => {
    try {
      const status = await invoke('api_key_clear');
      setStatus('api-key-status', 'Key removed; using the sandbox.', 'ok');
      connected(status);
      await loadSettings();
    } catch (e) {
      setStatus('api-key-status', errorText(e), 'bad');
    }
  });
  $('autostart').addEventListener('change', async (ev) => {
    const box = ev.currentTarget;
    box.disabled = true;
    try {
      box.checked = await invoke('autostart_set', { enabled: box.checked });
      setStatus('autostart-status', box.checked ? 'On: it starts in the tray when you log in.' : 'Off.', 'ok');
    } catch (e) {
      box.checked = !box.checked;
      setStatus('autostart-status', errorText(e), 'bad');
    } finally {
      box.disabled = false;
    }
  });
  $('diagnostics-export').addEventListener('click', async () => {
    setStatus('diagnostics-status', 'Exporting…');
    try {
      const out = await invoke('diagnostics_export');
      setStatus('diagnostics-status', out ? `Saved ${out}` : '', 'ok');
    } catch (e) {
      setStatus('diagnostics-status', errorText(e), 'bad');
    }
  });
}
