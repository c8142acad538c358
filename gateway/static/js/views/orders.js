// The buyer's orders, and one order: payment instructions and deadline, "Pay in sandbox",
// a status that follows the payment without a reload (polled every 1.5 s), and the
// order's refunds: their state, and the bank account form of a manual refund (a bank
// transfer the payment provider cannot refund).

import { api, newIdempotencyKey, tokenClaims } from '../api.js';
import { field, h, replace, setFieldError } from '../dom.js';
import {
  EXPIRED_MESSAGE, PAYMENT_METHODS, dateTime, plural, rupiah, shortId, timeLeft,
} from '../format.js';
import * as session from '../session.js';
import { busy, errorBox, infoBox, pagedFooter, pageTitle, statusBadge } from '../ui.js';
import { auditTrail } from './audit.js';
import { returnsSection } from './returns.js';

const POLL_MS = 1500;
const PAGE_SIZE = 20;

export function itemsSummary(order) {
  const items = order.items || [];
  if (!items.length) return '';
  const first = `${items[0].title} × ${items[0].quantity}`;
  return items.length > 1 ? `${first} + ${plural(items.length - 1, 'more item')}` : first;
}

export function orderRow(order, href = `#/orders/${order.id}`) {
  return h('li', { class: 'card order-row', dataset: { orderId: order.id, status: order.status } },
    h('a', { href, class: 'order-link' },
      h('span', { class: 'order-id' }, `Order ${shortId(order.id)}`),
      h('span', { class: 'muted small' }, dateTime(order.created_at))),
    h('p', { class: 'order-items' }, itemsSummary(order)),
    h('div', { class: 'order-row-foot' },
      statusBadge(order.status),
      h('strong', {}, rupiah(order.total))));
}

/** Orders of one checkout next to each other under one heading (one payment for several
 * shops); a single-shop checkout stays a plain row. */
export function groupByCheckout(orders) {
  const groups = [];
  const byCheckout = new Map();
  for (const order of orders) {
    const key = order.checkout_id && order.checkout_id !== order.id ? order.checkout_id : null;
    if (key && byCheckout.has(key)) {
      byCheckout.get(key).orders.push(order);
      continue;
    }
    const group = { checkoutId: key, orders: [order] };
    if (key) byCheckout.set(key, group);
    groups.push(group);
  }
  return groups;
}

export function checkoutGroup(group) {
  if (!group.checkoutId) return orderRow(group.orders[0]);
  return h('li', { class: 'checkout-group', dataset: { checkoutId: group.checkoutId } },
    h('p', { class: 'checkout-group-head' },
      h('a', { href: `#/checkouts/${group.checkoutId}` },
        `Checkout ${shortId(group.checkoutId)}`),
      h('span', { class: 'muted small' }, ` · one payment · ${plural(group.orders.length, 'shop')}`)),
    h('ul', { class: 'order-list' }, group.orders.map((order) => orderRow(order))));
}

export async function ordersView(ctx) {
  const blocked = ctx.requireRole('buyer');
  if (blocked) return blocked;
  const list = h('ul', { class: 'order-list', 'aria-label': 'Your orders' });
  const footer = h('div', { class: 'list-footer' });
  const section = h('section', { class: 'orders' }, pageTitle('Your orders'), list, footer);

  async function loadPage(cursor) {
    const qs = new URLSearchParams({ limit: String(PAGE_SIZE), role: 'buyer' });
    if (cursor) qs.set('cursor', cursor);
    const page = await api(`/api/v1/orders?${qs}`, { signal: ctx.signal });
    groupByCheckout(page.data).forEach((group) => list.append(checkoutGroup(group)));
    if (!cursor && !page.data.length) {
      list.replaceWith(h('div', { class: 'card pad empty' },
        h('p', {}, 'No orders yet.'), h('a', { class: 'btn btn-primary', href: '#/feed' }, 'Start shopping')));
    }
    pagedFooter(footer, page.next_cursor, (next) => loadPage(next));
  }

  await loadPage(null);
  return section;
}

function statusMessage(order) {
  switch (order.status) {
    case 'UNPAID':
      return 'Complete the payment before the deadline. This page updates by itself once it is received.';
    case 'AWAITING_SHIPMENT':
      return `Payment received${order.paid_at ? ` on ${dateTime(order.paid_at)}` : ''}. The seller will ship your order soon.`;
    case 'IN_TRANSIT':
      return `On its way${order.tracking_number ? ` — tracking number ${order.tracking_number}` : ''}.`;
    case 'DELIVERED':
      return `Delivered${order.delivered_at ? ` on ${dateTime(order.delivered_at)}` : ''}. Confirm you received it, or request a return below if something is wrong.`;
    case 'COMPLETED':
      return 'Delivered and completed. Thank you for shopping!';
    case 'EXPIRED':
      return EXPIRED_MESSAGE;
    case 'CANCELLED':
      if (order.payment && order.payment.status === 'refunded') {
        return 'This order was cancelled. Your payment was refunded to you.';
      }
      return order.payment && order.payment.status === 'refund_pending'
        ? 'This order was cancelled. Your payment is being refunded (see Refunds below).'
        : 'This order was cancelled.';
    default:
      return '';
  }
}

function copyButton(text, label) {
  if (!navigator.clipboard) return null;
  const button = h('button', {
    type: 'button',
    class: 'btn btn-link small',
    'aria-label': `Copy ${label}`,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Copy failed';
      }
      setTimeout(() => { button.textContent = 'Copy'; }, 2000);
    },
  }, 'Copy');
  return button;
}

export function paymentInstructions(order, onPaid) {
  const payment = order.payment || {};
  const deadline = h('p', { class: 'deadline' },
    'Pay before ', h('strong', { class: 'deadline-at' }, dateTime(payment.expires_at)),
    ' ', h('span', { class: 'deadline-left muted' }, `(${timeLeft(payment.expires_at)})`));
  let how;
  if (payment.method === 'bank_transfer') {
    how = h('dl', { class: 'pay-details' },
      h('dt', {}, 'Bank'), h('dd', { class: 'bank' }, (payment.bank || '—').toUpperCase()),
      h('dt', {}, 'Virtual account number'),
      h('dd', {}, h('code', { class: 'va-number' }, payment.va_number || '—'), ' ',
        payment.va_number ? copyButton(payment.va_number, 'virtual account number') : null),
      h('dt', {}, 'Amount'), h('dd', {}, h('strong', {}, rupiah(order.total))));
  } else {
    // The deeplink opens the wallet app on a phone; here it is shown, never followed,
    // so the page stays where it is.
    how = h('dl', { class: 'pay-details' },
      h('dt', {}, 'E-wallet payment link'),
      h('dd', {}, payment.deeplink
        ? h('code', { class: 'deeplink' }, payment.deeplink) : '—'),
      h('dt', {}, 'Amount'), h('dd', {}, h('strong', {}, rupiah(order.total))));
  }
  const payStatus = h('div', { 'aria-live': 'polite', class: 'pay-status' });
  const payButton = h('button', {
    type: 'button',
    class: 'btn btn-primary',
    id: 'pay-sandbox',
    onclick: () => busy(payButton, 'Paying…', async () => {
      replace(payStatus);
      try {
        // The payment sandbox stands in for the shopper's bank or wallet app; it is
        // exposed on this same origin under /sandbox/ (never in production).
        await api(`/sandbox/v2/${encodeURIComponent(order.id)}/pay`, {
          method: 'POST', body: {}, auth: false,
        });
        replace(payStatus, h('p', { class: 'inline-ok' },
          'Payment sent. Waiting for the confirmation from the payment provider…'));
        onPaid();
      } catch (error) {
        if (error.status === 409) {
          replace(payStatus, infoBox('The payment sandbox refused: this payment expired or was cancelled.', 'error'));
          onPaid();
        } else {
          replace(payStatus, errorBox(error));
        }
      }
    }),
  }, 'Pay in sandbox');
  return h('section', { class: 'card pad payment', 'aria-labelledby': 'pay-title' },
    h('h2', { class: 'section-title', id: 'pay-title' },
      `How to pay · ${PAYMENT_METHODS[payment.method] || payment.method || ''}`),
    how,
    deadline,
    h('div', { class: 'sandbox-box' },
      h('p', { class: 'muted small' }, 'Demo: play the customer paying through the payment sandbox.'),
      payButton,
      payStatus));
}

const REFUND_BANKS = ['bca', 'bni', 'bri', 'mandiri', 'permata', 'cimb', 'danamon', 'btn',
  'bsi', 'ocbc', 'panin', 'maybank'];

export function refundStateText(refund) {
  switch (refund.status) {
    case 'pending':
      return 'Being refunded by the payment provider.';
    case 'awaiting_account':
      return 'Waiting for your bank account: this payment cannot be refunded automatically.';
    case 'awaiting_transfer': {
      const account = refund.account || {};
      return `We will transfer it to ${(account.bank || '').toUpperCase()} ${account.account_number || ''} (${account.account_name || ''}).`;
    }
    case 'succeeded':
      return refund.method === 'manual'
        ? `Transferred to your bank account${refund.transfer_reference ? ` (reference ${refund.transfer_reference})` : ''}.`
        : 'Refunded to your payment method.';
    case 'failed':
      return 'This refund failed; our team has been told.';
    default:
      return refund.status;
  }
}

function refundAccountForm(order, isBuyer, onSaved) {
  const waiting = (order.refunds || []).some((r) => r.method === 'manual'
    && ['awaiting_account', 'awaiting_transfer'].includes(r.status));
  if (!isBuyer || !waiting) return null;
  const bankId = 'refund-bank';
  const bank = h('select', { id: bankId, name: 'bank', required: true },
    REFUND_BANKS.map((code) => h('option', { value: code }, code.toUpperCase())));
  const bankError = h('p', { class: 'field-error', id: `${bankId}-error` });
  const number = field({ label: 'Account number', name: 'account_number', inputmode: 'numeric',
    autocomplete: 'off', hint: 'Digits only.' });
  const name = field({ label: 'Account holder name', name: 'account_name', autocomplete: 'name' });
  const fields = { account_number: number, account_name: name };
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary', id: 'save-refund-account' },
    'Send my refund here');
  return h('form', {
    class: 'refund-account-form',
    noValidate: true,
    'aria-labelledby': 'refund-account-title',
    onsubmit: (event) => {
      event.preventDefault();
      busy(button, 'Saving…', async () => {
        replace(out);
        Object.values(fields).forEach((f) => setFieldError(f, ''));
        bankError.textContent = '';
        try {
          const next = await api(`/api/v1/orders/${encodeURIComponent(order.id)}/refund-account`, {
            method: 'POST',
            body: { bank: bank.value, account_number: number.input.value.trim(),
                    account_name: name.input.value.trim() },
          });
          onSaved(next);
        } catch (error) {
          if (error.name === 'AbortError') return;
          const errors = error.fieldErrors;
          for (const [key, messages] of Object.entries(errors)) {
            const text = Array.isArray(messages) ? messages.join(' ') : String(messages);
            if (fields[key]) setFieldError(fields[key], text);
            if (key === 'bank') bankError.textContent = text;
          }
          replace(out, errorBox(error));
        }
      });
    },
  },
  h('h3', { class: 'section-title', id: 'refund-account-title' }, 'Where should we send your refund?'),
  h('div', { class: 'field' }, h('label', { for: bankId }, 'Bank'), bank, bankError),
  number.wrap, name.wrap, button, out);
}

function refundsPanel(order, isBuyer, onSaved) {
  const refunds = order.refunds || [];
  if (!refunds.length) return null;
  return h('section', { class: 'card pad refunds', id: 'refunds', 'aria-labelledby': 'refunds-title' },
    h('h2', { class: 'section-title', id: 'refunds-title' }, 'Refunds'),
    h('ul', { class: 'refund-list' }, refunds.map((refund) => h('li', {
      class: 'refund-row', dataset: { refundStatus: refund.status, refundMethod: refund.method },
    },
    h('strong', { class: 'refund-amount' }, rupiah(refund.amount)), ' ',
    h('span', { class: 'refund-state' }, refundStateText(refund))))),
    refundAccountForm(order, isBuyer, onSaved));
}

function orderDetails(order) {
  const address = order.shipping_address || {};
  return [
    h('section', { class: 'card pad', 'aria-labelledby': 'items-title' },
      h('h2', { class: 'section-title', id: 'items-title' }, 'Items'),
      h('ul', { class: 'summary-lines' }, (order.items || []).map((item) => h('li', {},
        h('span', {}, `${item.quantity} × `, h('a', { href: `#/product/${item.product_id}` }, item.title),
          item.attribution
            ? h('span', { class: 'muted small attribution', dataset: { contentId: item.attribution.content_id } },
              ' · ', h('a', { href: `#/content/${item.attribution.content_id}` }, 'from a creator’s content'),
              item.attribution.commission ? ` · commission ${rupiah(item.attribution.commission)}` : '')
            : null),
        h('span', {}, rupiah(item.line_total))))),
      order.shipping_fee && order.shipping_fee.amount
        ? h('p', { class: 'summary-total' }, h('span', {}, 'Shipping'), h('span', {}, rupiah(order.shipping_fee)))
        : null,
      h('p', { class: 'summary-total' }, h('span', {}, 'Total'), h('strong', { class: 'order-total' }, rupiah(order.total)))),
    h('section', { class: 'card pad', 'aria-labelledby': 'ship-title' },
      h('h2', { class: 'section-title', id: 'ship-title' }, 'Ship to'),
      h('address', {},
        h('strong', {}, address.name), h('br'), address.line1, h('br'),
        `${address.city || ''} ${address.postal_code || ''}`, h('br'), address.phone),
      order.tracking_number ? h('p', {}, 'Tracking number: ', h('code', {}, order.tracking_number)) : null,
      h('p', { class: 'muted small' }, `Ordered ${dateTime(order.created_at)}`)),
  ];
}

export async function orderView(ctx) {
  const id = ctx.params.id;
  let order = await api(`/api/v1/orders/${encodeURIComponent(id)}`, { signal: ctx.signal });
  const claims = tokenClaims() || {};
  const isBuyer = session.hasRole('buyer') && order.buyer_id === claims.sub;
  const isSeller = session.hasRole('seller') && claims.shop_id && order.shop_id === claims.shop_id;

  const statusPanel = h('div', { class: 'status-panel', role: 'status', 'aria-live': 'polite', id: 'order-status' });
  const paymentPanel = h('div');
  const refundPanel = h('div');
  const detailsPanel = h('div', { class: 'order-details' });
  const actionsPanel = h('div', { class: 'order-actions' });
  const pollNote = h('p', { class: 'muted small poll-note', 'aria-live': 'off' });
  let shownStatus = null;
  let shownRefunds = null;
  let cancelKey = null;

  function renderStatus() {
    const tone = { EXPIRED: 'error', CANCELLED: 'error', UNPAID: 'warn' }[order.status] || 'ok';
    replace(statusPanel,
      h('p', { class: 'status-line' }, 'Status: ', statusBadge(order.status)),
      h('div', { class: `notice notice-${tone}` },
        h('p', { class: 'status-message', dataset: { status: order.status } }, statusMessage(order)),
        order.status === 'EXPIRED'
          ? h('p', {}, h('a', { href: '#/cart', class: 'btn btn-secondary' }, 'Go to your cart'))
          : null));
  }

  function renderActions() {
    const items = [];
    if (isBuyer && ['UNPAID', 'AWAITING_SHIPMENT'].includes(order.status)) items.push(cancelAction());
    if (isBuyer && ['IN_TRANSIT', 'DELIVERED'].includes(order.status)) items.push(confirmAction());
    if (isSeller && order.status === 'AWAITING_SHIPMENT') items.push(shipAction());
    if (isSeller && order.status === 'IN_TRANSIT') items.push(deliverAction());
    replace(actionsPanel, items);
  }

  // Returns after delivery: a moved return may have refunded part of the order.
  const returnsPanel = returnsSection(order, { isBuyer, isSeller }, ctx, async () => {
    try {
      update(await api(`/api/v1/orders/${encodeURIComponent(id)}`, { signal: ctx.signal }));
    } catch (error) {
      if (error.name !== 'AbortError') pollNote.textContent = `Could not refresh the order (${error.title}).`;
    }
  });

  function renderAll() {
    shownStatus = order.status;
    returnsPanel.setOrder(order);
    renderStatus();
    const shared = order.checkout_id && order.checkout_id !== order.id;
    let payment = null;
    if (order.status === 'UNPAID' && isBuyer) {
      payment = shared
        ? h('section', { class: 'card pad payment' },
          h('p', {}, 'This order is paid together with the other shops of its checkout: ',
            h('a', { href: `#/checkouts/${order.checkout_id}`, id: 'checkout-link' },
              'see the payment instruction'), '.'))
        : paymentInstructions(order, pollSoon);
    }
    replace(paymentPanel, payment);
    renderRefunds();
    replace(detailsPanel, orderDetails(order));
    renderActions();
  }

  function refundsKey(o) {
    return JSON.stringify((o.refunds || []).map((r) => [r.id, r.status]));
  }

  function renderRefunds() {
    shownRefunds = refundsKey(order);
    replace(refundPanel, refundsPanel(order, isBuyer, (next) => {
      update(next);
      ctx.toast('Refund account saved.');
    }));
  }

  function refundInProgress() {
    return (order.refunds || []).some((r) => ['pending', 'awaiting_transfer'].includes(r.status));
  }

  function update(next) {
    order = next;
    if (order.status === shownStatus && refundsKey(order) !== shownRefunds) {
      renderStatus();
      renderRefunds();
      schedule(POLL_MS); // follow a refund in progress (e.g. after giving the account)
    }
    if (order.status !== shownStatus) {
      renderAll();
      if (order.status === 'AWAITING_SHIPMENT') {
        ctx.toast('Payment received — thank you!');
        // The paid items leave the cart once the showcase commits the reservation.
        setTimeout(session.refreshCart, 2000);
      }
      schedule(POLL_MS); // a cancelled paid order follows its refund
    } else if (order.status === 'UNPAID') {
      const left = paymentPanel.querySelector('.deadline-left');
      if (left) left.textContent = `(${timeLeft(order.payment && order.payment.expires_at)})`;
    }
  }

  function cancelAction() {
    const out = h('div', { 'aria-live': 'polite' });
    const start = h('button', {
      type: 'button',
      class: 'btn btn-secondary',
      onclick: () => {
        const yes = h('button', {
          type: 'button',
          class: 'btn btn-danger',
          onclick: () => busy(yes, 'Cancelling…', async () => {
            cancelKey = cancelKey || newIdempotencyKey();
            try {
              update(await api(`/api/v1/orders/${encodeURIComponent(order.id)}/cancel`, {
                method: 'POST', headers: { 'Idempotency-Key': cancelKey }, signal: ctx.signal,
              }));
              cancelKey = null;
              ctx.toast('Order cancelled.');
            } catch (error) {
              if (error.name === 'AbortError') return;
              if (!(error.network || error.status >= 500)) cancelKey = null;
              replace(out, errorBox(error));
            }
          }),
        }, 'Yes, cancel the order');
        const no = h('button', { type: 'button', class: 'btn btn-link', onclick: () => replace(out, start) },
          'Keep it');
        replace(out, h('p', {}, order.status === 'AWAITING_SHIPMENT'
          ? 'Cancel this order? Your payment will be refunded.' : 'Cancel this order?'), yes, ' ', no);
        yes.focus();
      },
    }, 'Cancel order');
    out.append(start);
    return out;
  }

  function confirmAction() {
    const out = h('div', { 'aria-live': 'polite' });
    const button = h('button', {
      type: 'button',
      class: 'btn btn-primary',
      onclick: () => busy(button, 'Confirming…', async () => {
        try {
          update(await api(`/api/v1/orders/${encodeURIComponent(order.id)}/confirm-receipt`, {
            method: 'POST', signal: ctx.signal,
          }));
        } catch (error) {
          if (error.name !== 'AbortError') replace(out, errorBox(error));
        }
      }),
    }, 'I received my order');
    out.append(button);
    return out;
  }

  function deliverAction() {
    const out = h('div', { 'aria-live': 'polite' });
    const button = h('button', {
      type: 'button',
      class: 'btn btn-secondary',
      id: 'mark-delivered',
      onclick: () => busy(button, 'Saving…', async () => {
        try {
          update(await api(`/api/v1/orders/${encodeURIComponent(order.id)}/deliver`, {
            method: 'POST', signal: ctx.signal,
          }));
          ctx.toast('Marked as delivered.');
        } catch (error) {
          if (error.name !== 'AbortError') replace(out, errorBox(error));
        }
      }),
    }, 'Mark as delivered');
    out.append(button);
    return out;
  }

  function shipAction() {
    const tracking = field({ label: 'Tracking number', name: 'tracking_number', autocomplete: 'off' });
    const out = h('div', { 'aria-live': 'polite' });
    const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Mark as shipped');
    return h('form', {
      class: 'ship-form',
      noValidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        busy(button, 'Saving…', async () => {
          replace(out);
          try {
            update(await api(`/api/v1/orders/${encodeURIComponent(order.id)}/ship`, {
              method: 'POST', body: { tracking_number: tracking.input.value.trim() }, signal: ctx.signal,
            }));
            ctx.toast('Marked as shipped.');
          } catch (error) {
            if (error.name !== 'AbortError') replace(out, errorBox(error));
          }
        });
      },
    }, tracking.wrap, button, out);
  }

  // Poll while the order waits for its payment; stop when leaving the screen.
  let timer = null;
  let polling = false;
  async function poll() {
    timer = null;
    if (!ctx.isCurrent() || !(order.status === 'UNPAID' || refundInProgress())) return;
    polling = true;
    try {
      update(await api(`/api/v1/orders/${encodeURIComponent(id)}`, { signal: ctx.signal }));
      pollNote.textContent = '';
    } catch (error) {
      if (error.name === 'AbortError') return;
      pollNote.textContent = [502, 503, 504].includes(error.status) || error.network
        ? 'Status updates paused: services are temporarily unavailable. Retrying…'
        : `Could not refresh the status (${error.title}). Retrying…`;
    } finally {
      polling = false;
    }
    schedule(POLL_MS);
  }
  function schedule(ms) {
    if (timer || polling || !ctx.isCurrent()
        || !(order.status === 'UNPAID' || refundInProgress())) return;
    timer = setTimeout(poll, ms);
  }
  function pollSoon() {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    schedule(300);
  }
  ctx.onLeave(() => {
    if (timer) clearTimeout(timer);
    timer = null;
  });

  renderAll();
  schedule(POLL_MS);

  const back = isSeller && !isBuyer
    ? h('p', { class: 'crumbs' }, h('a', { href: '#/seller' }, '← Orders to ship'))
    : h('p', { class: 'crumbs' }, h('a', { href: '#/orders' }, '← Your orders'));
  return h('section', { class: 'order', dataset: { orderId: order.id } },
    back,
    pageTitle(`Order ${shortId(order.id)}`),
    statusPanel,
    paymentPanel,
    refundPanel,
    actionsPanel,
    returnsPanel.element,
    pollNote,
    detailsPanel,
    auditTrail(order.id, ctx));
}

function checkoutMessage(checkout) {
  return {
    UNPAID: 'One payment for every shop below. This page updates by itself once it is received.',
    PAID: 'Payment received. Each shop ships its own order.',
    EXPIRED: EXPIRED_MESSAGE,
    CANCELLED: 'This checkout was cancelled: none of its orders will ship.',
  }[checkout.status] || '';
}

/** One checkout: its single payment instruction and its orders (one per shop). */
export async function checkoutPaymentView(ctx) {
  const blocked = ctx.requireRole('buyer');
  if (blocked) return blocked;
  const { id } = ctx.params;
  const path = `/api/v1/checkouts/${encodeURIComponent(id)}`;
  let placed = await api(path, { signal: ctx.signal });
  const statusPanel = h('div', { class: 'status-panel', role: 'status', 'aria-live': 'polite', id: 'checkout-status' });
  const paymentPanel = h('div');
  const ordersPanel = h('ul', { class: 'order-list', 'aria-label': 'Orders of this checkout' });
  let timer = null;

  function render() {
    const { checkout } = placed;
    const tone = { EXPIRED: 'error', CANCELLED: 'error', UNPAID: 'warn' }[checkout.status] || 'ok';
    replace(statusPanel,
      h('p', { class: 'status-line' }, 'Status: ', statusBadge(checkout.status)),
      h('div', { class: `notice notice-${tone}` },
        h('p', { class: 'status-message', dataset: { status: checkout.status } }, checkoutMessage(checkout))));
    replace(paymentPanel, checkout.status === 'UNPAID'
      ? paymentInstructions({ id: checkout.id, total: checkout.total, payment: checkout.payment }, soon)
      : null);
    replace(ordersPanel, placed.orders.map((order) => orderRow(order)));
  }

  async function poll() {
    timer = null;
    if (!ctx.isCurrent() || placed.checkout.status !== 'UNPAID') return;
    try {
      placed = await api(path, { signal: ctx.signal });
      render();
    } catch (error) {
      if (error.name === 'AbortError') return;
    }
    if (placed.checkout.status === 'UNPAID') timer = setTimeout(poll, POLL_MS);
  }
  function soon() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(poll, 300);
  }
  ctx.onLeave(() => {
    if (timer) clearTimeout(timer);
    timer = null;
  });

  const cancel = h('button', {
    type: 'button', class: 'btn btn-secondary', id: 'cancel-checkout',
    onclick: () => busy(cancel, 'Cancelling…', async () => {
      try {
        placed = await api(`${path}/cancel`, {
          method: 'POST', body: {}, headers: { 'Idempotency-Key': newIdempotencyKey() },
        });
        render();
        ctx.toast('Checkout cancelled.');
      } catch (error) {
        if (error.name !== 'AbortError') ctx.toast(error.detail || error.title, 'error');
      }
    }),
  }, 'Cancel the whole checkout');

  render();
  timer = setTimeout(poll, POLL_MS);
  return h('section', { class: 'checkout-payment', dataset: { checkoutId: id } },
    h('p', { class: 'crumbs' }, h('a', { href: '#/orders' }, '← Your orders')),
    pageTitle(`Checkout ${shortId(id)} · ${rupiah(placed.checkout.total)}`),
    statusPanel, paymentPanel,
    h('h2', { class: 'section-title' }, `${plural(placed.orders.length, 'order')}, one per shop`),
    ordersPanel,
    placed.checkout.status === 'UNPAID' ? h('div', { class: 'order-actions' }, cancel) : null);
}
