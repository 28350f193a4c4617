// "Make it fit" on a card, as pure logic: which file a card shows (the original or its fitted
// copy), whether to ask the planner, the conversion's progress line, and the platform frames
// drawn over an image (centre crops). No DOM, no Tauri: unit-tested by node.

import { etaText } from './format.js';

/** The crop frames drawn over an image: TikTok's 9:16 and Instagram's 4:5 (portrait feeds). */
export const FRAMES = [
  { platform: 'tiktok', name: 'TikTok', ratio: [9, 16] },
  { platform: 'instagram', name: 'Instagram', ratio: [4, 5] },
];

/** What the preview says about itself: Layers does the cropping, and does not document how. */
export const FRAME_NOTE = 'Preview — Layers crops at publish; its exact crop is not documented';

/** The file a card stands for now: `{path, r}` of the fitted copy when it is shown. */
export function shown(it) {
  const f = it.fit;
  if (f?.state === 'done' && f.showing === 'copy') return f.copy;
  return { path: it.path, r: it.r };
}

/** Hard errors a copy can fix (the engine's `source_facts` says the same): over the size cap,
 * or a video container the API refuses (MKV, WebM…), which a copy remuxes into MP4. */
const FIXABLE_ERRORS = new Set(['too_large', 'unsupported_type']);

/** Whether to ask the planner about a card: a video that misses a platform, or one whose only
 * errors a copy can fix (its kind is unknown when the container is refused). */
export function wantsFitCheck(r) {
  const errors = r?.errors ?? [];
  if (errors.length) return errors.every((e) => FIXABLE_ERRORS.has(e.code)) && r.kind !== 'image';
  return r?.kind === 'video' && (r.platformFit ?? []).some((p) => !p.ok);
}

/** `1:05`, `0:03`, `1:02:09`: a media clock. */
export function clock(ms) {
  const s = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The progress line: `0:02 / 0:05 · 2.4× · about 3 s left`. */
export function progressText(p) {
  const parts = [`${clock(p.doneMs)} / ${clock(p.durationMs)}`];
  if (p.speed > 0) parts.push(`${p.speed.toFixed(1)}×`);
  parts.push(p.etaMs == null ? 'estimating…' : `about ${etaText(p.etaMs)} left`);
  return parts.join(' · ');
}

/** The centred crop of a `w`×`h` picture to `rw`:`rh`, in percent of the picture. */
export function centreCrop(w, h, rw, rh) {
  if (!(w > 0 && h > 0)) return { left: 0, top: 0, width: 100, height: 100 };
  const picture = w / h;
  const frame = rw / rh;
  if (picture > frame) {
    const width = (frame / picture) * 100;
    return { left: (100 - width) / 2, top: 0, width, height: 100 };
  }
  const height = (picture / frame) * 100;
  return { left: 0, top: (100 - height) / 2, width: 100, height };
}

/** The largest `w`:`h` box inside `maxW`×`maxH`, in whole pixels (at least 1). */
export function frameBox(w, h, maxW, maxH) {
  if (!(w > 0 && h > 0)) return { width: maxW, height: maxH };
  const scale = Math.min(maxW / w, maxH / h);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}
