// Returns, refunds and disputes after delivery (DESIGN.md §12), on the order page: the
// buyer opens a return on a delivered order and follows it (ship the goods back, accept or
// dispute an offer, cancel); the order's seller answers it (approve, reject, offer, mark
// received). The admin's disputes list (#/admin/disputes) decides disputed returns.

import { api, newIdempotencyKey } from '../api.js';
import { field, h, replace } from '../dom.js';
import { dateTime, rupiah, shortId } from '../format.js';
import { busy, errorBox, pageTitle } from '../ui.js';

const POLL_MS = 1500;

export const RETURN_STATUS = {
  REQUESTED: 'Requested — waiting for the seller',
  APPROVED: 'Approved',
  AWAITING_BUYER_SHIPMENT: 'Approved — send the item back',
  BUYER_SHIPPED: 'Sent back — waiting for the seller',
  RECEIVED: 'Received by the seller',
  REFUND_PENDING: 'Refund in progress',
  REFUNDED: 'Refunded',
  REJECTED: 'Rejected by the seller',
  OFFERED: 'The seller offers a partial refund',
  DISPUTED: 'Disputed — Etalase is deciding',
  CLOSED: 'Closed without refund',
  CANCELLED: 'Cancelled',
};

const REASONS = {
  damaged: 'Damaged', wrong_item: 'Wrong item', not_as_described: 'Not as described',
  not_received: 'Not received', other: 'Other',
};

function returnBadge(ret) {
  const tone = ['CANCELLED', 'CLOSED', 'REJECTED'].includes(ret.status) ? 'bad'
    : ret.open ? 'warn' : 'ok';
  return h('span', { class: `status status-${tone} return-status`,
                     dataset: { returnStatus: ret.status } }, RETURN_STATUS[ret.status] || ret.status);
}

/** A button that POSTs one move of a return and hands the new return to `done`. */
function moveButton(ret, action, label, done, { body = null, tone = 'btn-secondary', confirm = null } = {}) {
  const out = h('span', { 'aria-live': 'polite' });
  const button = h('button', {
    type: 'button',
    class: `btn ${tone}`,
    dataset: { returnAction: action },
    onclick: () => {
      if (confirm && !window.confirm(confirm)) return;
      busy(button, 'Saving…', async () => {
        replace(out);
        try {
          done(await api(`/api/v1/returns/${encodeURIComponent(ret.id)}/${action}`, {
            method: 'POST', body: typeof body === 'function' ? body() : body,
          }));
        } catch (error) {
          if (error.name !== 'AbortError') replace(out, errorBox(error));
        }
      });
    },
  }, label);
  return h('span', { class: 'return-move' }, button, out);
}

function inlineForm(ret, action, fieldSpec, label, done, toBody) {
  const input = field(fieldSpec);
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'btn btn-secondary', dataset: { returnAction: action } }, label);
  return h('form', {
    class: `return-form return-${action}`,
    noValidate: true,
    onsubmit: (event) => {
      event.preventDefault();
      busy(button, 'Saving…', async () => {
        replace(out);
        try {
          done(await api(`/api/v1/returns/${encodeURIComponent(ret.id)}/${action}`, {
            method: 'POST', body: toBody(input.input.value.trim()),
          }));
        } catch (error) {
          if (error.name !== 'AbortError') replace(out, errorBox(error));
        }
      });
    },
  }, input.wrap, button, out);
}

function returnActions(ret, { isBuyer, isSeller }, done) {
  const moves = [];
  if (isSeller && ret.status === 'REQUESTED') {
    moves.push(moveButton(ret, 'approve', 'Approve the return', done, { tone: 'btn-primary' }));
    moves.push(inlineForm(ret, 'reject', { label: 'Reason for rejecting', name: 'reject_reason' },
      'Reject', done, (reason) => ({ reason })));
    moves.push(inlineForm(ret, 'offer', {
      label: `Offer a partial refund (below ${rupiah(ret.value)})`, name: 'offer_amount',
      inputmode: 'numeric', attrs: { type: 'number', min: '1', step: '1' },
    }, 'Offer', done, (amount) => ({ amount: Number.parseInt(amount, 10) })));
  }
  if (isSeller && ret.status === 'BUYER_SHIPPED') {
    moves.push(moveButton(ret, 'received', 'I received the item back', done, { tone: 'btn-primary' }));
  }
  if (isBuyer && ret.status === 'AWAITING_BUYER_SHIPMENT') {
    moves.push(inlineForm(ret, 'ship', { label: 'Return tracking number', name: 'return_tracking' },
      'I sent it back', done, (tracking) => ({ tracking_number: tracking })));
  }
  if (isBuyer && ret.status === 'OFFERED') {
    moves.push(moveButton(ret, 'accept-offer', `Accept ${rupiah(ret.offer)}`, done, { tone: 'btn-primary' }));
  }
  if (isBuyer && ['OFFERED', 'REJECTED'].includes(ret.status)) {
    moves.push(moveButton(ret, 'escalate', 'Ask Etalase to decide', done, { body: {} }));
  }
  if (isBuyer && ['REQUESTED', 'OFFERED', 'REJECTED', 'AWAITING_BUYER_SHIPMENT'].includes(ret.status)) {
    moves.push(moveButton(ret, 'cancel', 'Withdraw the return', done, { tone: 'btn-link' }));
  }
  return moves.length ? h('div', { class: 'return-actions' }, moves) : null;
}

export function returnCard(ret, parties, done) {
  return h('li', { class: 'return-row', dataset: { returnId: ret.id, status: ret.status } },
    h('p', {}, h('strong', {}, `Return ${shortId(ret.id)}`), ' · ', returnBadge(ret)),
    h('p', { class: 'muted small' },
      `${ret.type === 'refund_only' ? 'Refund only' : 'Return and refund'} · ${REASONS[ret.reason] || ret.reason}`
      + ` · opened ${dateTime(ret.created_at)}`),
    h('ul', { class: 'plain small' }, (ret.items || []).map((item) => h('li', {},
      `${item.quantity} × product ${shortId(item.product_id)} at ${rupiah(item.unit_price)}`))),
    h('p', {}, 'Value ', h('strong', { class: 'return-value' }, rupiah(ret.value)),
      ret.refund_amount ? [' · refund ', h('strong', { class: 'return-refund' }, rupiah(ret.refund_amount))] : null,
      ret.offer && ret.status === 'OFFERED' ? [' · offer ', h('strong', {}, rupiah(ret.offer))] : null),
    ret.reject_reason ? h('p', { class: 'small' }, `Seller: ${ret.reject_reason}`) : null,
    ret.tracking_number ? h('p', { class: 'small' }, 'Sent back with ', h('code', {}, ret.tracking_number)) : null,
    returnActions(ret, parties, done));
}

function openReturnForm(order, onOpened) {
  const delivered = order.status === 'DELIVERED';
  const key = { value: null };
  const type = h('select', { id: 'return-type', name: 'type' },
    delivered ? h('option', { value: 'return_and_refund' }, 'Return the item for a refund') : null,
    h('option', { value: 'refund_only' }, 'Refund only (keep the item)'));
  const reason = h('select', { id: 'return-reason', name: 'reason' },
    Object.entries(REASONS)
      .filter(([code]) => delivered || code === 'not_received')
      .map(([code, label]) => h('option', { value: code }, label)));
  const quantities = (order.items || []).map((item) => {
    const input = h('input', {
      type: 'number', min: '0', max: String(item.quantity), step: '1', value: '0',
      name: `qty-${item.product_id}`, 'aria-label': `Units of ${item.title} to return`,
      dataset: { productId: item.product_id },
    });
    return { item, input };
  });
  const note = field({ label: 'What happened? (optional)', name: 'return_note', required: false });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary', id: 'open-return' }, 'Request the return');
  return h('form', {
    class: 'open-return-form',
    noValidate: true,
    'aria-labelledby': 'open-return-title',
    onsubmit: (event) => {
      event.preventDefault();
      const items = quantities
        .map(({ item, input }) => ({ product_id: item.product_id, quantity: Number.parseInt(input.value, 10) || 0 }))
        .filter((line) => line.quantity > 0);
      if (!items.length) {
        replace(out, h('p', { class: 'inline-error', role: 'alert' }, 'Choose how many units to return.'));
        return;
      }
      busy(button, 'Sending…', async () => {
        replace(out);
        key.value = key.value || newIdempotencyKey();
        try {
          const body = { type: type.value, reason: reason.value, items };
          if (note.input.value.trim()) body.note = note.input.value.trim();
          const opened = await api(`/api/v1/orders/${encodeURIComponent(order.id)}/returns`, {
            method: 'POST', body, headers: { 'Idempotency-Key': key.value },
          });
          key.value = null;
          onOpened(opened);
        } catch (error) {
          if (error.name === 'AbortError') return;
          if (!(error.network || error.status >= 500)) key.value = null;
          replace(out, errorBox(error));
        }
      });
    },
  },
  h('h3', { class: 'section-title', id: 'open-return-title' },
    delivered ? 'Something wrong? Request a return' : 'Never arrived? Request a refund'),
  h('div', { class: 'field' }, h('label', { for: 'return-type' }, 'What you want'), type),
  h('div', { class: 'field' }, h('label', { for: 'return-reason' }, 'Reason'), reason),
  h('ul', { class: 'plain' }, quantities.map(({ item, input }) => h('li', { class: 'field' },
    h('label', {}, `${item.title} (ordered ${item.quantity}) `, input)))),
  note.wrap, button, out);
}

/**
 * The order page's returns section. `parties` = {isBuyer, isSeller}; `onChange` is called
 * when a return moved (so the order page can refresh the order: its refunds, its status).
 */
export function returnsSection(order, parties, ctx, onChange) {
  const panel = h('section', { class: 'card pad returns', id: 'returns', 'aria-labelledby': 'returns-title' });
  let returns = [];
  let timer = null;

  function changed(ret) {
    returns = returns.some((r) => r.id === ret.id)
      ? returns.map((r) => (r.id === ret.id ? ret : r)) : [ret, ...returns];
    render();
    onChange();
    follow();
  }

  function render() {
    const open = returns.some((r) => r.open);
    const canOpen = parties.isBuyer && !open
      && (order.status === 'DELIVERED' || order.status === 'IN_TRANSIT');
    if (!returns.length && !canOpen) {
      replace(panel);
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    replace(panel,
      h('h2', { class: 'section-title', id: 'returns-title' }, 'Returns'),
      returns.length
        ? h('ul', { class: 'return-list' }, returns.map((r) => returnCard(r, parties, changed)))
        : null,
      canOpen ? openReturnForm(order, changed) : null);
  }

  async function load() {
    const role = parties.isBuyer ? 'buyer' : parties.isSeller ? 'seller' : 'admin';
    const qs = new URLSearchParams({ order_id: order.id, role, limit: '20' });
    const page = await api(`/api/v1/returns?${qs}`, { signal: ctx.signal });
    returns = page.data;
    render();
  }

  // Follow a refund in progress until it is made (then the order page refreshes too).
  function follow() {
    if (timer || !ctx.isCurrent() || !returns.some((r) => r.status === 'REFUND_PENDING')) return;
    timer = setTimeout(async () => {
      timer = null;
      try {
        const before = JSON.stringify(returns.map((r) => r.status));
        await load();
        if (JSON.stringify(returns.map((r) => r.status)) !== before) onChange();
      } catch (error) {
        if (error.name === 'AbortError') return;
      }
      follow();
    }, POLL_MS);
  }
  ctx.onLeave(() => { if (timer) clearTimeout(timer); timer = null; });

  panel.hidden = true;
  load().then(follow).catch((error) => {
    if (error.name !== 'AbortError') replace(panel, errorBox(error));
  });
  return {
    element: panel,
    setOrder(next) { order = next; render(); },
  };
}

/** Admins: disputed returns first, each decided with a refund (an amount) or a close. */
export async function disputesView(ctx) {
  const blocked = ctx.requireRole('admin');
  if (blocked) return blocked;
  const list = h('ul', { class: 'return-list disputes', 'aria-label': 'Returns, disputes first' });
  const section = h('section', { class: 'disputes-view' }, pageTitle('Returns and disputes'), list);

  function card(ret) {
    const row = returnCard(ret, {}, () => {});
    if (ret.status === 'DISPUTED') {
      const done = (next) => row.replaceWith(card(next));
      row.append(h('div', { class: 'return-actions' },
        h('a', { href: `#/orders/${ret.order_id}` }, `Order ${shortId(ret.order_id)}`), ' ',
        inlineForm(ret, 'resolve', {
          label: `Refund amount (up to ${rupiah(ret.value)})`, name: 'resolve_amount',
          inputmode: 'numeric', value: String(ret.value.amount),
          attrs: { type: 'number', min: '1', step: '1' },
        }, 'Refund the buyer', done,
        (amount) => ({ decision: 'refund', amount: Number.parseInt(amount, 10) })),
        moveButton(ret, 'resolve', 'Close without refund', done, { body: { decision: 'close' } })));
    }
    return row;
  }

  const page = await api('/api/v1/returns?role=admin&limit=100', { signal: ctx.signal });
  if (!page.data.length) list.replaceWith(h('p', { class: 'card pad empty' }, 'No returns.'));
  page.data.forEach((ret) => list.append(card(ret)));
  return section;
}
