// Actions used by several screens.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import * as session from '../session.js';
import { busy, errorBox } from '../ui.js';

/**
 * Add `quantity` of `product` to the cart (PUT sets the quantity, so the current one is
 * read first). Shows the outcome in `statusEl` (an aria-live region next to the button).
 * `contentId`: the video or live session it is bought from (credits its creator).
 */
export async function addToCart(ctx, product, quantity, button, statusEl, contentId = null) {
  if (!session.isSignedIn()) {
    ctx.navigate(`#/login?next=${encodeURIComponent(ctx.path)}`);
    return;
  }
  if (!session.hasRole('buyer')) {
    replace(statusEl, h('span', { class: 'inline-error' },
      'Only buyer accounts have a cart. Sign out and sign in as a buyer to shop.'));
    return;
  }
  replace(statusEl);
  await busy(button, 'Adding…', async () => {
    try {
      const cart = await api('/api/v1/cart', { signal: ctx.signal });
      const line = cart.items.find((item) => item.product_id === product.id);
      const total = (line ? line.quantity : 0) + quantity;
      const updated = await api(`/api/v1/cart/items/${encodeURIComponent(product.id)}`, {
        method: 'PUT', body: contentId ? { quantity: total, content_id: contentId } : { quantity: total },
        signal: ctx.signal,
      });
      session.setCart(updated);
      replace(statusEl, h('span', { class: 'inline-ok' },
        `Added to cart (${total} in cart). `, h('a', { href: '#/cart' }, 'View cart')));
    } catch (error) {
      if (error.name === 'AbortError') return;
      replace(statusEl, errorBox(error, { products: { [product.id]: product.title } }));
    }
  });
}

/** "from Nadia's live" for an attribution `{content_kind, creator: {name}}`, or null. */
export function attributionNote(attribution) {
  if (!attribution) return null;
  const name = (attribution.creator && attribution.creator.name) || 'a creator';
  const kind = attribution.content_kind === 'live' ? 'live' : 'video';
  return h('span', { class: 'flag flag-ok attribution', dataset: { contentId: attribution.content_id } },
    `from ${name}’s ${kind}`);
}

/** A − [n] + quantity control; returns {el, get value()}. */
export function quantityStepper({ value = 1, min = 1, max = 999, label = 'Quantity', onChange }) {
  const input = h('input', {
    type: 'number', min: String(min), max: String(max), value: String(value),
    inputmode: 'numeric', class: 'qty-input', 'aria-label': label,
  });
  const clamp = (n) => Math.min(max, Math.max(min, Number.isFinite(n) ? Math.trunc(n) : min));
  let last = clamp(value);
  const set = (n) => {
    const next = clamp(n);
    input.value = String(next);
    if (next === last) return;
    last = next;
    if (onChange) onChange(next);
  };
  const minus = h('button', { type: 'button', class: 'qty-btn', 'aria-label': `Decrease ${label.toLowerCase()}`,
                              onclick: () => set(Number(input.value) - 1) }, '−');
  const plus = h('button', { type: 'button', class: 'qty-btn', 'aria-label': `Increase ${label.toLowerCase()}`,
                             onclick: () => set(Number(input.value) + 1) }, '+');
  input.addEventListener('change', () => set(Number(input.value)));
  return {
    el: h('div', { class: 'qty' }, minus, input, plus),
    input,
    get value() {
      return clamp(Number(input.value));
    },
    /** Show `n` without calling onChange (e.g. to undo a refused change). */
    reset(n) {
      last = clamp(n);
      input.value = String(last);
    },
  };
}
