// Shared pieces of the screens: headings, error boxes, thumbnails, price and stock lines.

import { h, replace } from './dom.js';
import { describeError, hueOf, rupiah, statusLabel, statusTone } from './format.js';

export function pageTitle(text, ...extra) {
  return h('div', { class: 'page-head' },
    h('h1', { tabindex: '-1', class: 'page-title' }, text), ...extra);
}

/** An error box (role=alert) with the friendly message and the problem's own words. */
export function errorBox(error, options = {}) {
  const { title, message, detail } = describeError(error, options);
  const reference = error && error.requestId;
  return h('div', { class: 'notice notice-error', role: 'alert', dataset: { slug: (error && error.slug) || '' } },
    h('p', { class: 'notice-title' }, title),
    message ? h('p', { class: 'notice-message' }, message) : null,
    detail ? h('p', { class: 'notice-detail' }, detail) : null,
    reference ? h('p', { class: 'notice-ref' }, `Reference: ${reference}`) : null,
    options.retry
      ? h('button', { type: 'button', class: 'btn btn-secondary', onclick: options.retry }, 'Try again')
      : null);
}

export function infoBox(text, tone = 'info', extra = null) {
  return h('div', { class: `notice notice-${tone}` }, h('p', {}, text), extra);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

/**
 * A placeholder thumbnail for content: a CSS gradient with a ▶ or LIVE badge. Remote
 * media is never loaded or autoplayed; the page stays on its own origin.
 */
export function contentThumb(content, { large = false } = {}) {
  const live = content.kind === 'live';
  return h('div', {
    class: `thumb ${live ? 'thumb-live' : 'thumb-video'}${large ? ' thumb-large' : ''}`,
    style: { '--hue': String(hueOf(content.id || content.title)) },
    role: 'img',
    'aria-label': `${live ? 'Live session' : 'Video'}: ${content.title}`,
  },
  live
    ? h('span', { class: 'badge badge-live', 'aria-hidden': 'true' }, '● LIVE')
    : h('span', { class: 'badge badge-video', 'aria-hidden': 'true' }, 'VIDEO'),
  h('span', { class: 'thumb-play', 'aria-hidden': 'true' }, live ? '◉' : '▶'));
}

/** A product placeholder image: initials on a gradient (product images are not loaded). */
export function productThumb(product, size = 'sm') {
  const words = String(product.title || '?').split(/\s+/).filter((w) => /^\p{L}/u.test(w));
  const initials = (words[0] ? words[0][0] : '?') + (words[1] ? words[1][0] : '');
  return h('div', {
    class: `pthumb pthumb-${size}`,
    style: { '--hue': String(hueOf(product.id || product.title)) },
    'aria-hidden': 'true',
  }, initials.toUpperCase());
}

export function price(money, extraClass = '') {
  return h('span', { class: `price ${extraClass}`.trim() }, rupiah(money));
}

/** "In stock", "Only 3 left", "Out of stock", "Not for sale". */
export function availability(product) {
  if (product.status && product.status !== 'active') {
    return h('span', { class: 'stock stock-out' }, 'Not for sale');
  }
  const stock = typeof product.stock === 'number' ? product.stock : null;
  const inStock = product.in_stock !== undefined ? product.in_stock : (stock === null || stock > 0);
  if (!inStock) return h('span', { class: 'stock stock-out' }, 'Out of stock');
  if (stock !== null && stock <= 5) return h('span', { class: 'stock stock-low' }, `Only ${stock} left`);
  return h('span', { class: 'stock stock-in' }, 'In stock');
}

export function statusBadge(status) {
  return h('span', { class: `status status-${statusTone(status)}`, dataset: { status } },
    statusLabel(status));
}

/** The footer of a paged list: a "Load more" button while the API has a next page. */
export function pagedFooter(footer, nextCursor, loadNext) {
  if (!nextCursor) {
    replace(footer);
    return;
  }
  const button = h('button', {
    type: 'button',
    class: 'btn btn-secondary load-more',
    onclick: async () => {
      button.disabled = true;
      try {
        await loadNext(nextCursor);
      } catch (error) {
        if (error.name !== 'AbortError') replace(footer, errorBox(error));
      }
    },
  }, 'Load more');
  replace(footer, button);
}

/** Put a button into a busy state while `work` runs. */
export async function busy(button, text, work) {
  const original = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (text) button.textContent = text;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = original;
  }
}
