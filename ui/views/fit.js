// "Make it fit" on the Add view's cards: asking the planner about a video that misses a
// platform, the button that makes the fitted copy, its progress with Cancel, the choice
// between the copy and the original, and the frame preview drawn over an image.

import { invoke, channel, errorText } from '../ipc.js';
import { h } from '../dom.js';
import { baseName } from '../lib/format.js';
import {
  FRAMES, FRAME_NOTE, centreCrop, frameBox, progressText, wantsFitCheck,
} from '../lib/fit.js';

/** Told by the Add view: `get(path)` → card item, `set(path, fit)` re-renders, `announce`. */
let view = { get: () => null, set: () => {}, announce: () => {} };

/** Connects the cards' fit controls to the Add view. */
export function initFit(hooks) {
  view = hooks;
}

/** Asks the planner, once per card, whether a copy of a video that misses a platform fits. */
export function checkFit(it) {
  if (it.fit || !wantsFitCheck(it.r)) return;
  it.fit = { state: 'checking' };
  invoke('fit_check', { path: it.path })
    .then((c) => {
      if (c.verdict === 'fixable') view.set(it.path, { state: 'fixable', changes: c.changes });
      else if (c.verdict === 'cannot_fit') view.set(it.path, { state: 'cannot', reasons: c.reasons });
      else view.set(it.path, { state: 'none' });
    })
    .catch(() => view.set(it.path, { state: 'none' }));
}

/** Whether any card is converting (the batch waits for it). */
export function converting(items) {
  return items.some((it) => it.fit?.state === 'converting');
}

async function makeFit(path) {
  const before = view.get(path)?.fit ?? {};
  const progress = channel((p) => showProgress(path, p));
  view.set(path, { state: 'converting', changes: before.changes, progress: null });
  view.announce(`Making a fitted copy of ${baseName(path)}…`);
  try {
    const made = await invoke('make_fit', { path, onProgress: progress });
    view.set(path, {
      state: 'done', changes: made.changes, showing: 'copy',
      copy: { path: made.copy.path, r: made.copy },
    });
    view.announce(`${baseName(path)}: the fitted copy ${baseName(made.copy.path)} is ready and will be uploaded.`);
  } catch (e) {
    if (e?.code === 'cancelled') {
      view.set(path, { state: 'fixable', changes: before.changes, note: 'Cancelled — nothing was kept.' });
    } else if (e?.code === 'cannot_fit') {
      view.set(path, { state: 'cannot', reasons: [errorText(e)] });
    } else {
      view.set(path, { state: 'failed', changes: before.changes, message: errorText(e) });
    }
    view.announce(`${baseName(path)}: ${errorText(e)}`);
  }
}

function showProgress(path, p) {
  const it = view.get(path);
  if (it?.fit?.state !== 'converting') return;
  it.fit.progress = p;
  const card = document.querySelector(`.card[data-key="${CSS.escape(path)}"]`);
  const bar = card?.querySelector('.fit-progress progress');
  if (bar) {
    bar.max = Math.max(1, p.durationMs);
    bar.value = p.doneMs;
  }
  const text = card?.querySelector('.fit-progress-text');
  if (text) text.textContent = progressText(p);
}

/** The card's fit line, shown instead of the issue list; `null` leaves the issues. */
export function fitLine(it) {
  const f = it.fit;
  const name = baseName(it.path);
  switch (f?.state) {
    case 'converting': {
      const p = f.progress;
      return h('div', { class: 'fit-progress' },
        h('progress', {
          max: Math.max(1, p?.durationMs ?? 1), value: p?.doneMs ?? 0,
          'aria-label': `Making a fitted copy of ${name}`,
        }),
        h('span', { class: 'fit-progress-text' }, p ? progressText(p) : 'Starting…'));
    }
    case 'cannot':
      return h('p', { class: 'fit-note fit-cannot', title: f.reasons.join('\n') },
        h('strong', {}, 'Cannot be made to fit: '), f.reasons.join(' '));
    case 'failed':
      return h('p', { class: 'fit-note fit-failed', title: f.message },
        h('strong', {}, 'The copy failed: '), f.message);
    case 'fixable':
      return f.note ? h('p', { class: 'fit-note' }, f.note) : null;
    case 'done':
      return f.showing === 'copy'
        ? h('p', { class: 'fit-note fit-made', title: f.changes.join('\n') },
          h('strong', {}, 'Fitted copy: '), f.changes.join(' · '))
        : null;
    default:
      return null;
  }
}

/** The card's fit button (one at a time, so focus stays on it as the card changes). */
export function fitAction(it) {
  const f = it.fit;
  const name = baseName(it.path);
  const button = (label, aria, onclick, extra = '') =>
    h('button', { class: `fit-action button button-small${extra}`, 'aria-label': aria, title: aria, onclick }, label);
  switch (f?.state) {
    case 'fixable':
    case 'failed':
      return button('Make it fit', `Make a copy of ${name} that fits TikTok and Instagram: ${(f.changes ?? []).join('; ')}`,
        () => makeFit(it.path), ' button-fit');
    case 'converting':
      return button('Cancel', `Cancel making the fitted copy of ${name}; nothing is kept`,
        () => invoke('make_fit_cancel', { path: it.path }).catch(() => {}));
    case 'done': {
      const copy = f.showing === 'copy';
      return button(copy ? 'Show original' : 'Show fitted copy',
        copy ? `Show and upload the original ${name} instead of the fitted copy`
          : `Show and upload the fitted copy ${baseName(f.copy.path)} instead of the original`,
        () => view.set(it.path, { ...f, showing: copy ? 'original' : 'copy' }));
    }
    default:
      return null;
  }
}

/** The platforms' frames drawn over an image's thumbnail (centre crops), labelled a preview. */
export function framePreview(r, src) {
  const box = frameBox(r.width, r.height, 92, 66);
  const frames = FRAMES.map((f) => {
    const c = centreCrop(r.width, r.height, f.ratio[0], f.ratio[1]);
    return h('div', { class: 'frame', 'data-platform': f.platform },
      h('div', { class: 'frame-box', style: { width: `${box.width}px`, height: `${box.height}px` } },
        h('img', { class: 'frame-img', alt: '', src: src || null }),
        h('span', {
          class: 'frame-crop',
          style: { left: `${c.left}%`, top: `${c.top}%`, width: `${c.width}%`, height: `${c.height}%` },
        })),
      h('span', { class: 'frame-label' }, `${f.name} ${f.ratio.join(':')}`));
  });
  const label = `Frame preview: the ${FRAMES.map((f) => `${f.name} ${f.ratio.join(':')}`).join(' and ')} centre crops drawn over the image. ${FRAME_NOTE}.`;
  return h('figure', { class: 'frames', role: 'img', 'aria-label': label },
    h('div', { class: 'frames-row' }, frames),
    h('figcaption', { class: 'frames-note' }, FRAME_NOTE));
}
