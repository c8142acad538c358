// The seller's screen: paid orders waiting to be shipped (ship with a tracking number),
// and the shop's recent orders.

import { api } from '../api.js';
import { field, h, replace, setFieldError } from '../dom.js';
import { dateTime, rupiah, shortId } from '../format.js';
import { busy, errorBox, pagedFooter, pageTitle, statusBadge } from '../ui.js';
import { orderRow } from './orders.js';
import { returnCard } from './returns.js';

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

/** Add a product; the commission rate is what creators earn when their content sells it. */
function productForm(ctx) {
  const title = field({ label: 'Title', name: 'title', attrs: { maxLength: 200 } });
  const priceField = field({ label: 'Price (rupiah)', name: 'price', inputmode: 'numeric',
    attrs: { type: 'number', min: '1', step: '1' } });
  const stock = field({ label: 'Stock', name: 'stock', inputmode: 'numeric', value: '10',
    attrs: { type: 'number', min: '0', step: '1' } });
  const rate = field({ label: 'Commission for creators (%)', name: 'commission_percent', value: '0',
    inputmode: 'decimal', hint: '0 to 80; 0 = not offered. Creators earn it on sales from their content.',
    attrs: { type: 'number', min: '0', max: '80', step: '0.01' } });
  const status = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add product');
  return h('form', {
    class: 'card pad product-form',
    noValidate: true,
    'aria-label': 'Add a product',
    onsubmit: (event) => {
      event.preventDefault();
      const percent = Number(rate.input.value || '0');
      const bps = Math.round(percent * 100);
      if (!Number.isFinite(percent) || bps < 0 || bps > 8000) {
        setFieldError(rate, 'Between 0 and 80 %.');
        rate.input.focus();
        return;
      }
      setFieldError(rate, '');
      busy(submit, 'Saving…', async () => {
        replace(status);
        try {
          const product = await api('/api/v1/products', {
            method: 'POST',
            signal: ctx.signal,
            body: { title: title.input.value.trim(), price: Number(priceField.input.value),
                    stock: Number(stock.input.value), commission_rate_bps: bps },
          });
          replace(status, h('p', { class: 'inline-ok', dataset: { productId: product.id } },
            `Added “${product.title}” with ${product.commission_rate_bps / 100} % commission. `,
            h('a', { href: `#/product/${product.id}` }, 'View')));
        } catch (error) {
          if (error.name !== 'AbortError') replace(status, errorBox(error));
        }
      });
    },
  }, h('h2', { class: 'section-title' }, 'Add a product'), title.wrap, priceField.wrap, stock.wrap,
  rate.wrap, submit, status);
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

  // Returns waiting for the seller's answer (or for the item coming back), answered here.
  const returnsList = h('ul', { class: 'return-list', 'aria-label': 'Returns to answer' });
  async function loadReturns() {
    const pages = await Promise.all(['REQUESTED', 'BUYER_SHIPPED'].map((status) => api(
      `/api/v1/returns?${new URLSearchParams({ role: 'seller', status, limit: '50' })}`,
      { signal: ctx.signal })));
    const open = pages.flatMap((p) => p.data);
    const answered = (ret) => {
      ctx.toast('Return answered.');
      const row = returnsList.querySelector(`[data-return-id="${ret.id}"]`);
      if (row) row.replaceWith(returnCard(ret, { isSeller: true }, answered));
    };
    replace(returnsList, open.length
      ? open.map((ret) => h('li', { class: 'card pad' },
        h('a', { href: `#/orders/${ret.order_id}` }, `Order ${shortId(ret.order_id)}`),
        h('ul', { class: 'plain' }, returnCard(ret, { isSeller: true }, answered))))
      : h('li', { class: 'muted' }, 'No returns to answer.'));
  }

  const section = h('section', { class: 'seller' },
    pageTitle('Orders to ship', h('p', { class: 'lede' }, 'Paid orders of your shop. Ship them and enter the tracking number.')),
    announce,
    toShipList, toShipFooter,
    h('h2', { class: 'section-title', id: 'seller-returns-title' }, 'Returns to answer'),
    returnsList,
    h('h2', { class: 'section-title' }, 'Recent orders'),
    recentList, recentFooter,
    productForm(ctx));

  await Promise.all([
    loadPage(toShipList, toShipFooter, { status: 'AWAITING_SHIPMENT' },
      (order) => toShipCard(ctx, order, onShipped)),
    loadPage(recentList, recentFooter, {}, (order) => orderRow(order)),
    loadReturns(),
  ]);

  return section;
}
