// A list that renders every row while short and only the visible rows when long (1,000
// posts scroll smoothly). Rows have a fixed height; DOM order follows list order.

import { visibleRange } from '../lib/virtual.js';
import { perFrame } from '../dom.js';

/** Lists above this many rows are virtualized. */
export const VIRTUAL_FROM = 60;

export class VList {
  /**
   * @param viewport the scrolling element; @param inner the rows' container;
   * @param rowHeight px per row including its gap; @param renderRow (item, index) → Element
   * with `data-key`; @param keyOf item → key. A row whose item is the same object as last
   * paint is reused, so only changed rows are rebuilt.
   */
  constructor(viewport, inner, rowHeight, renderRow, keyOf) {
    Object.assign(this, { viewport, inner, rowHeight, renderRow, keyOf, items: [], cache: new Map() });
    this.schedule = perFrame(() => this.paint());
    viewport.addEventListener('scroll', this.schedule, { passive: true });
    new ResizeObserver(this.schedule).observe(viewport);
  }

  /** Replaces the items and repaints on the next frame. */
  set(items) {
    this.items = items;
    this.schedule();
  }

  /** Forgets every rendered row, so a change of how rows look (not what they hold) shows. */
  invalidate() {
    this.cache = new Map();
    this.schedule();
  }

  /** Repaints now (after a change the caller needs in the DOM at once). */
  paint() {
    const n = this.items.length;
    const active = document.activeElement;
    const focusedRow = this.inner.contains(active) ? active.closest('[data-key]') : null;
    const focusedKey = focusedRow?.dataset.key;
    const focusedClass = focusedRow && active !== focusedRow ? active.classList[0] : null;
    let start = 0, end = n, offset = 0;
    const virtual = n >= VIRTUAL_FROM;
    this.inner.classList.toggle('virtual', virtual);
    if (virtual) {
      const top = this.viewport.scrollTop - this.inner.offsetTop;
      ({ start, end, offset } = visibleRange({
        count: n, rowHeight: this.rowHeight, scrollTop: top, viewportHeight: this.viewport.clientHeight,
      }));
      this.inner.style.height = `${n * this.rowHeight}px`;
    } else {
      this.inner.style.height = '';
    }
    const rows = [];
    const cache = new Map();
    for (let i = start; i < end; i++) {
      const item = this.items[i];
      const key = String(this.keyOf(item));
      const old = this.cache.get(key);
      const row = old && old.item === item && old.index === i ? old.row : this.renderRow(item, i);
      cache.set(key, { item, index: i, row });
      if (virtual) {
        row.style.top = `${offset + (i - start) * this.rowHeight}px`;
        row.style.height = `${this.rowHeight - 10}px`;
      }
      rows.push(row);
    }
    this.cache = cache;
    const same = rows.length === this.inner.children.length && rows.every((r, i) => this.inner.children[i] === r);
    if (!same) this.inner.replaceChildren(...rows);
    if (focusedKey && !this.inner.contains(document.activeElement)) {
      const row = this.inner.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`);
      const target = (focusedClass && row?.querySelector(`.${CSS.escape(focusedClass)}:not([hidden])`)) || row;
      target?.focus({ preventScroll: true });
    }
  }
}
