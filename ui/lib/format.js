// Pure formatting of figures, sizes, rates and times. No DOM, no Tauri: unit-tested by node.

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** `38 MB`, `1.5 KB`, `12 bytes`: binary units, as the upload caps are counted. */
export function humanBytes(bytes) {
  const n = Math.max(0, Math.round(Number(bytes) || 0));
  let unit, step;
  if (n >= GIB) [unit, step] = ['GB', GIB];
  else if (n >= MIB) [unit, step] = ['MB', MIB];
  else if (n >= KIB) [unit, step] = ['KB', KIB];
  else return n === 1 ? '1 byte' : `${n} bytes`;
  if (n % step === 0) return `${n / step} ${unit}`;
  return `${(n / step).toFixed(1)} ${unit}`;
}

/** `29.97`, `30`, `23.98`: two decimals at most, trailing zeros dropped. */
export function fpsText(fps) {
  return Number(fps).toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

/** `8.1 Mbps`, `25 Mbps`, `640 kbps` (decimal units, as the platform rules state limits). */
export function mbps(bps) {
  if (bps < 1_000_000) return `${Math.round(bps / 1000)} kbps`;
  const m = bps / 1_000_000;
  let s = m.toFixed(1).replace(/0+$/, '').replace(/\.$/, '');
  // Never show a bitrate over the 25 Mbps limit as the limit itself.
  if (bps > 25_000_000 && s === '25') return `${m.toFixed(3)} Mbps`;
  return `${s} Mbps`;
}

const CODECS = { h264: 'H.264', hevc: 'HEVC', aac: 'AAC', mpeg4: 'MPEG-4' };

/** `h264` → `H.264`; unknown codecs upper-cased. */
export function codecName(c) {
  return CODECS[c] ?? String(c).toUpperCase();
}

/**
 * The figure line of an inspection (the engine's camelCase `Inspection`):
 * `1080×1920 · 31.0 s · 29.97 fps · H.264/AAC · 8.1 Mbps · 38 MB`.
 */
export function figures(r) {
  const parts = [];
  if (r.width != null && r.height != null) parts.push(`${r.width}×${r.height}`);
  if (r.durationMs != null) parts.push(`${(r.durationMs / 1000).toFixed(1)} s`);
  if (r.fps != null) parts.push(`${fpsText(r.fps)} fps`);
  if (r.videoCodec) {
    const audio = r.audioCodec ? codecName(r.audioCodec) : 'silent';
    parts.push(`${codecName(r.videoCodec)}/${audio}`);
  }
  if (r.bitrateBps != null) parts.push(mbps(r.bitrateBps));
  parts.push(humanBytes(r.sizeBytes));
  return parts.join(' · ');
}

/** `4.2 MB/s`, `812 KB/s`; empty when nothing is moving. */
export function rateText(bytesPerSec) {
  if (!(bytesPerSec > 0)) return '';
  return `${humanBytes(bytesPerSec)}/s`;
}

/** Remaining time for people: `8 s`, `2 min 05 s`, `1 h 03 min`; `—` when unknown. */
export function etaText(ms) {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Remaining milliseconds at a rate; `null` when it cannot be known. */
export function etaMs(remainingBytes, bytesPerSec) {
  if (!(bytesPerSec > 0) || remainingBytes < 0) return null;
  return (remainingBytes / bytesPerSec) * 1000;
}

/** The file name of a path (either separator). */
export function baseName(path) {
  const s = String(path);
  const i = Math.max(s.lastIndexOf('/'), s.lastIndexOf('\\'));
  return i >= 0 ? s.slice(i + 1) : s;
}

/** `1,000`: thousands separators, fixed to en-US so output is stable. */
export function count(n) {
  return Number(n).toLocaleString('en-US');
}
