// The buyer's cart, grouped by shop (an order holds one shop's items): quantities,
// remove, price changes and unavailable items flagged; the whole cart checks out at once
// (one payment, one order per shop), or one shop's items alone.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { plural, rupiah } from '../format.js';
import * as session from '../session.js';
import { errorBox, pageTitle, price, productThumb } from '../ui.js';
import { attributionNote, quantityStepper } from './shared.js';

const REASONS = {
  inactive: 'No longer for sale',
  out_of_stock: 'Out of stock',
  insufficient_stock: 'Not enough stock',
};

/** Cart items grouped by shop, in the order the shops first appear. */
export function groupByShop(items) {
  const groups = new Map();
  for (const item of items) {
    if (!groups.has(item.shop_id)) {
      groups.set(item.shop_id, { shopId: item.shop_id, shopName: item.shop_name, items: [] });
    }
    groups.get(item.shop_id).items.push(item);
  }
  return [...groups.values()];
}

export function flags(item) {
  const out = [];
  if (!item.available) {
    let text = REASONS[item.unavailable_reason] || 'Unavailable';
    if (item.unavailable_reason === 'insufficient_stock') text += ` — only ${item.stock} left`;
    out.push(h('span', { class: 'flag flag-bad', dataset: { flag: item.unavailable_reason || 'unavailable' } }, text));
  }
  if (item.price_change === 'dearer') {
    out.push(h('span', { class: 'flag flag-warn', dataset: { flag: 'dearer' } },
      `Price went up from ${rupiah(item.price_when_added)}`));
  } else if (item.price_change === 'cheaper') {
    out.push(h('span', { class: 'flag flag-ok', dataset: { flag: 'cheaper' } },
      `Price dropped from ${rupiah(item.price_when_added)}`));
  }
  return out;
}

export async function cartView(ctx) {
  const blocked = ctx.requireRole('buyer');
  if (blocked) return blocked;

  const body = h('div', { class: 'cart-body' });
  const status = h('div', { 'aria-live': 'polite', class: 'cart-status' });
  const section = h('section', { class: 'cart' }, pageTitle('Your cart'), status, body);

  function show(cart) {
    session.setCart(cart);
    // Re-rendering replaces the lines: keep keyboard focus on the same control.
    const active = document.activeElement;
    const line = active && body.contains(active) ? active.closest('[data-product-id]') : null;
    const focusKey = line && active.getAttribute('aria-label')
      ? [line.dataset.productId, active.getAttribute('aria-label')] : null;
    render(cart);
    if (focusKey) {
      const again = [...body.querySelectorAll(`[data-product-id="${CSS.escape(focusKey[0])}"] [aria-label]`)]
        .find((el) => el.getAttribute('aria-label') === focusKey[1]);
      if (again) again.focus();
    }
  }

  function render(cart) {
    if (!cart.items.length) {
      replace(body, h('div', { class: 'card pad empty' },
        h('p', {}, 'Your cart is empty.'),
        h('a', { class: 'btn btn-primary', href: '#/feed' }, 'Discover products')));
      return;
    }
    const groups = groupByShop(cart.items);
    const available = cart.items.filter((item) => item.available);
    const total = available.reduce((sum, item) => sum + item.line_total.amount, 0);
    const shops = new Set(available.map((item) => item.shop_id)).size;
    replace(body,
      groups.map((group) => shopGroup(group)),
      shops > 1
        ? h('section', { class: 'card pad cart-checkout-all' },
          h('p', { class: 'muted' }, `One payment for ${plural(shops, 'shop')}; each shop ships its own order.`),
          h('a', { class: 'btn btn-primary btn-wide', href: '#/checkout', dataset: { action: 'checkout-all' } },
            `Check out everything · ${rupiah(total)}`))
        : null);
  }

  function shopGroup(group) {
    const available = group.items.filter((item) => item.available);
    const subtotal = available.reduce((sum, item) => sum + item.line_total.amount, 0);
    const count = available.reduce((sum, item) => sum + item.quantity, 0);
    const headingId = `shop-${group.shopId}`;
    return h('section', { class: 'card shop-group', 'aria-labelledby': headingId, dataset: { shopId: group.shopId } },
      h('h2', { class: 'shop-name', id: headingId }, group.shopName || 'Shop'),
      h('ul', { class: 'cart-lines' }, group.items.map(cartLine)),
      group.items.length > available.length
        ? h('p', { class: 'muted small' }, 'Unavailable items stay in your cart and are not checked out.')
        : null,
      h('div', { class: 'shop-footer' },
        h('p', { class: 'subtotal' }, 'Subtotal ', h('strong', {}, rupiah(subtotal))),
        count
          ? h('a', { class: 'btn btn-primary', href: `#/checkout/${group.shopId}`, dataset: { action: 'checkout' } },
            `Check out ${plural(count, 'item')}`)
          : h('span', { class: 'btn btn-primary disabled', 'aria-disabled': 'true' }, 'Nothing to check out')));
  }

  function cartLine(item) {
    const lineStatus = h('div', { 'aria-live': 'polite' });
    const max = Math.max(1, Math.min(999, item.stock > 0 ? item.stock : item.quantity));
    const stepper = quantityStepper({
      value: item.quantity,
      max: Math.max(max, item.quantity),
      label: `Quantity of ${item.title}`,
      onChange: async (quantity) => {
        replace(lineStatus);
        try {
          show(await api(`/api/v1/cart/items/${encodeURIComponent(item.product_id)}`, {
            method: 'PUT', body: { quantity }, signal: ctx.signal,
          }));
          replace(status, h('p', { class: 'sr-only' }, `Quantity of ${item.title} is now ${quantity}.`));
        } catch (error) {
          if (error.name === 'AbortError') return;
          stepper.reset(item.quantity);
          replace(lineStatus, errorBox(error, { products: { [item.product_id]: item.title } }));
        }
      },
    });
    const remove = h('button', {
      type: 'button',
      class: 'btn btn-link',
      'aria-label': `Remove ${item.title} from cart`,
      onclick: async () => {
        remove.disabled = true;
        try {
          show(await api(`/api/v1/cart/items/${encodeURIComponent(item.product_id)}`, {
            method: 'DELETE', signal: ctx.signal,
          }));
          replace(status, h('p', { class: 'toast toast-ok' }, `Removed ${item.title}.`));
        } catch (error) {
          if (error.name === 'AbortError') return;
          remove.disabled = false;
          replace(lineStatus, errorBox(error));
        }
      },
    }, 'Remove');
    return h('li', {
      class: `cart-line${item.available ? '' : ' unavailable'}`,
      dataset: { productId: item.product_id },
    },
    productThumb({ id: item.product_id, title: item.title }, 'sm'),
    h('div', { class: 'cart-line-main' },
      h('a', { href: `#/product/${item.product_id}`, class: 'cart-line-title' }, item.title),
      h('p', { class: 'small' }, price(item.unit_price), h('span', { class: 'muted' }, ' each')),
      h('p', { class: 'flags' }, flags(item), attributionNote(item.attribution)),
      lineStatus),
    h('div', { class: 'cart-line-side' },
      stepper.el,
      h('p', { class: 'line-total' }, rupiah(item.line_total)),
      remove));
  }

  show(await api('/api/v1/cart', { signal: ctx.signal }));
  return section;
}
