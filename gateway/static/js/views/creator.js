// The creator's dashboard: commission balance, earnings per content, payouts (with a
// withdrawal form that reuses its Idempotency-Key when the same request is retried).

import { api, newIdempotencyKey } from '../api.js';
import { field, h, replace, setFieldError } from '../dom.js';
import { dateTime, rupiah, shortId } from '../format.js';
import { busy, errorBox, pagedFooter, pageTitle } from '../ui.js';

const idr = (amount) => rupiah({ amount, currency: 'IDR' });

function balanceCard(balance) {
  const cell = (label, amount, key) => h('div', { class: 'stat', dataset: { balance: key } },
    h('p', { class: 'muted small' }, label), h('p', { class: 'stat-value' }, idr(amount)));
  return h('div', { class: 'card pad stats', 'aria-label': 'Commission balance' },
    cell('Available', balance.available, 'available'),
    cell('Pending (paid, not completed)', balance.pending, 'pending'),
    cell('Paid out', balance.paid_out, 'paid_out'));
}

function earningsRow(row, titles) {
  return h('tr', { dataset: { contentId: row.content_id } },
    h('td', {}, h('a', { href: `#/content/${row.content_id}` }, titles[row.content_id] || `Content ${shortId(row.content_id)}`)),
    h('td', { class: 'num' }, String(row.orders)),
    h('td', { class: 'num' }, String(row.units)),
    h('td', { class: 'num' }, rupiah(row.sales)),
    h('td', { class: 'num', dataset: { field: 'commission' } }, rupiah(row.commission)),
    h('td', { class: 'num' }, rupiah(row.pending_commission)));
}

async function contentTitles(ids, signal) {
  const titles = {};
  await Promise.all(ids.map(async (id) => {
    try {
      titles[id] = (await api(`/api/v1/contents/${encodeURIComponent(id)}`, { signal, auth: false })).title;
    } catch {
      /* the id is shown instead */
    }
  }));
  return titles;
}

export async function creatorView(ctx) {
  const blocked = ctx.requireRole('creator');
  if (blocked) return blocked;

  const balanceEl = h('div');
  const earningsBody = h('tbody');
  const earningsFooter = h('div', { class: 'list-footer' });
  const payoutList = h('ul', { class: 'plain payouts', 'aria-label': 'Payouts' });
  const status = h('div', { 'aria-live': 'polite' });

  async function loadBalance() {
    const balance = await api('/api/v1/creators/me/balance', { signal: ctx.signal });
    replace(balanceEl, balanceCard(balance));
    return balance;
  }

  async function loadEarnings(cursor) {
    const qs = new URLSearchParams({ limit: '20' });
    if (cursor) qs.set('cursor', cursor);
    const page = await api(`/api/v1/creators/me/earnings?${qs}`, { signal: ctx.signal });
    const titles = await contentTitles(page.data.map((row) => row.content_id), ctx.signal);
    page.data.forEach((row) => earningsBody.append(earningsRow(row, titles)));
    if (!cursor && !page.data.length) {
      earningsBody.append(h('tr', {}, h('td', { colspan: '6', class: 'muted' },
        'No sales from your content yet.')));
    }
    pagedFooter(earningsFooter, page.next_cursor, (next) => loadEarnings(next));
  }

  async function loadPayouts() {
    const page = await api('/api/v1/creators/me/payouts?limit=20', { signal: ctx.signal });
    replace(payoutList, page.data.length
      ? page.data.map((p) => h('li', { dataset: { payoutId: p.id } },
        `${rupiah(p.amount)} · ${p.status} · ${dateTime(p.created_at)}`))
      : h('li', { class: 'muted' }, 'No payouts yet.'));
  }

  const amount = field({ label: 'Amount (rupiah)', name: 'amount', inputmode: 'numeric',
    hint: 'At most your available balance.', attrs: { type: 'number', min: '1', step: '1' } });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Withdraw');
  let attempt = null; // {amount, key}: a retry of the same amount reuses its key
  const form = h('form', {
    class: 'card pad payout-form',
    noValidate: true,
    'aria-label': 'Withdraw commission',
    onsubmit: (event) => {
      event.preventDefault();
      const value = Number(amount.input.value);
      if (!Number.isInteger(value) || value < 1) {
        setFieldError(amount, 'Enter a whole number of rupiah.');
        amount.input.focus();
        return;
      }
      setFieldError(amount, '');
      if (!attempt || attempt.amount !== value) attempt = { amount: value, key: newIdempotencyKey() };
      busy(submit, 'Sending…', async () => {
        replace(status);
        try {
          await api('/api/v1/creators/me/payouts', {
            method: 'POST', body: { amount: value }, headers: { 'Idempotency-Key': attempt.key },
            signal: ctx.signal,
          });
          attempt = null;
          amount.input.value = '';
          replace(status, h('p', { class: 'inline-ok' }, `Payout of ${idr(value)} requested.`));
          await Promise.all([loadBalance(), loadPayouts()]);
        } catch (error) {
          if (error.name !== 'AbortError') replace(status, errorBox(error));
        }
      });
    },
  }, h('h2', { class: 'section-title' }, 'Withdraw'), amount.wrap, submit, status);

  const section = h('section', { class: 'creator' },
    pageTitle('Your earnings', h('p', { class: 'lede' },
      'Commission from sales of products your videos and live sessions show.')),
    balanceEl,
    h('h2', { class: 'section-title' }, 'Earnings per content'),
    h('div', { class: 'card table-wrap' },
      h('table', { class: 'earnings', 'aria-label': 'Earnings per content' },
        h('thead', {}, h('tr', {},
          ['Content', 'Orders', 'Units', 'Sales', 'Commission', 'Pending'].map((t) => h('th', { scope: 'col' }, t)))),
        earningsBody)),
    earningsFooter,
    form,
    h('h2', { class: 'section-title' }, 'Payouts'),
    payoutList);

  await Promise.all([loadBalance(), loadEarnings(null), loadPayouts()]);
  return section;
}
