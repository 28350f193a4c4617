// The only door to the native side: Tauri's global API (`withGlobalTauri`). Commands answer
// data or reject with `{code, message}`.

const tauri = window.__TAURI__;

/** Calls a command. */
export function invoke(cmd, args) {
  return tauri.core.invoke(cmd, args);
}

/** Listens to an app event; the callback gets the payload. */
export function listen(event, cb) {
  return tauri.event.listen(event, (e) => cb(e.payload));
}

/** The URL the webview may load a thumbnail from (asset protocol, thumbs dir only). */
export function assetUrl(path) {
  return tauri.core.convertFileSrc(path);
}

/** Hover feedback for native drags (the drop itself arrives as `paths-granted`). */
export function onDragHover(cb) {
  const webview = tauri.webview?.getCurrentWebview?.();
  if (!webview) return;
  webview.onDragDropEvent((e) => cb(e.payload.type));
}

/** A message for people from any rejection. */
export function errorText(err) {
  if (err && typeof err === 'object' && 'message' in err) return err.message;
  return String(err);
}

/** A channel a command streams to (e.g. a conversion's progress); `onmessage` hears each. */
export function channel(onmessage) {
  const c = new tauri.core.Channel();
  c.onmessage = onmessage;
  return c;
}
