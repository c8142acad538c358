// The seller's screen: paid orders waiting to be shipped (ship with a tracking number),
// and the shop's recent orders.

import { api } from '../api.js';
import { field, h, replace } from '../dom.js';
import { dateTime, rupiah, shortId } from '../format.js';
import { busy, errorBox, pagedFooter, pageTitle, statusBadge } from '../ui.js';
import { orderRow } from './orders.js';

function toShipCard(ctx, order, onShipped) {
  const address = order.shipping_address || {};
  const tracking = field({
    label: 'Tracking number', name: 'tracking_number', autocomplete: 'off',
    hint: 'Letters, digits, spaces and . _ / -', attrs: { maxLength: 64 },
  });
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Mark as shipped');
  const card = h('li', { class: 'card pad to-ship', dataset: { orderId: order.id } },
    h('div', { class: 'to-ship-head' },
      h('h3', { class: 'order-id' }, h('a', { href: `#/orders/${order.id}` }, `Order ${shortId(order.id)}`)),
      statusBadge(order.status)),
    h('p', { class: 'muted small' }, `Paid ${dateTime(order.paid_at || order.updated_at)} · ${rupiah(order.total)}`),
    h('ul', { class: 'plain' }, (order.items || []).map((item) => h('li', {}, `${item.quantity} × ${item.title}`))),
    h('p', { class: 'small' }, 'Ship to ', h('strong', {}, address.name), ', ', address.line1, ', ',
      address.city, ' ', address.postal_code, ' · ', address.phone),
    h('form', {
      class: 'ship-form',
      noValidate: true,
      'aria-label': `Ship order ${shortId(order.id)}`,
      onsubmit: (event) => {
        event.preventDefault();
        const number = tracking.input.value.trim();
        if (!number) {
          replace(status, h('p', { class: 'inline-error', role: 'alert' }, 'Enter the courier’s tracking number.'));
          tracking.input.focus();
          return;
        }
        busy(button, 'Saving…', async () => {
          replace(status);
          try {
            const shipped = await api(`/api/v1/orders/${encodeURIComponent(order.id)}/ship`, {
              method: 'POST', body: { tracking_number: number }, signal: ctx.signal,
            });
            onShipped(card, shipped);
          } catch (error) {
            if (error.name !== 'AbortError') replace(status, errorBox(error));
          }
        });
      },
    }, tracking.wrap, button, status));
  return card;
}

export async function sellerView(ctx) {
  const blocked = ctx.requireRole('seller');
  if (blocked) return blocked;

  const toShipList = h('ul', { class: 'order-list', 'aria-label': 'Orders to ship' });
  const toShipFooter = h('div', { class: 'list-footer' });
  const recentList = h('ul', { class: 'order-list', 'aria-label': 'Recent orders' });
  const recentFooter = h('div', { class: 'list-footer' });
  const announce = h('div', { 'aria-live': 'polite', class: 'sr-only' });

  function onShipped(card, shipped) {
    replace(card, h('p', { class: 'inline-ok' },
      `Order ${shortId(shipped.id)} shipped — tracking number ${shipped.tracking_number}.`));
    announce.textContent = `Order ${shortId(shipped.id)} marked as shipped.`;
    ctx.toast('Marked as shipped.');
  }

  async function loadPage(list, footer, query, render, cursor) {
    const qs = new URLSearchParams({ ...query, role: 'seller', limit: '20' });
    if (cursor) qs.set('cursor', cursor);
    const page = await api(`/api/v1/orders?${qs}`, { signal: ctx.signal });
    page.data.forEach((order) => list.append(render(order)));
    if (!cursor && !page.data.length) {
      list.replaceWith(h('p', { class: 'muted' },
        query.status ? 'Nothing to ship right now.' : 'No orders yet.'));
    }
    pagedFooter(footer, page.next_cursor, (next) => loadPage(list, footer, query, render, next));
  }

  const section = h('section', { class: 'seller' },
    pageTitle('Orders to ship', h('p', { class: 'lede' }, 'Paid orders of your shop. Ship them and enter the tracking number.')),
    announce,
    toShipList, toShipFooter,
    h('h2', { class: 'section-title' }, 'Recent orders'),
    recentList, recentFooter);

  await Promise.all([
    loadPage(toShipList, toShipFooter, { status: 'AWAITING_SHIPMENT' },
      (order) => toShipCard(ctx, order, onShipped)),
    loadPage(recentList, recentFooter, {}, (order) => orderRow(order)),
  ]);

  return section;
}
