// The seller's webhook settings: the shop's endpoints, registering one (its signing secret
// is shown once), sending a test event and the recent deliveries of each endpoint.

import { api } from '../api.js';
import { field, h, replace } from '../dom.js';
import { dateTime, shortId } from '../format.js';
import { busy, errorBox, infoBox, pageTitle } from '../ui.js';

const EVENT_TYPES = [
  'order.created', 'order.paid', 'order.shipped', 'order.completed', 'order.cancelled',
  'order.expired', 'refund.succeeded', 'payout.created', 'commission.earned',
];

function deliveryRow(delivery) {
  const last = delivery.attempt_log[delivery.attempt_log.length - 1];
  const outcome = last
    ? (last.status_code ? `HTTP ${last.status_code}` : (last.error || 'failed'))
    : 'not attempted yet';
  return h('tr', { class: 'delivery-row', dataset: { deliveryId: delivery.id, status: delivery.status } },
    h('td', {}, delivery.event_type),
    h('td', { class: 'delivery-status' }, delivery.status),
    h('td', {}, String(delivery.attempts)),
    h('td', { class: 'delivery-outcome' }, outcome, last ? ` · ${last.duration_ms} ms` : ''),
    h('td', {}, dateTime(last ? last.attempted_at : delivery.created_at)));
}

function endpointCard(ctx, endpoint, onDeleted) {
  const deliveries = h('div', { class: 'deliveries' });
  const status = h('div', { 'aria-live': 'polite' });

  async function loadDeliveries() {
    try {
      const page = await api(`/api/v1/webhooks/endpoints/${encodeURIComponent(endpoint.id)}/deliveries?limit=10`,
        { signal: ctx.signal });
      if (!page.data.length) {
        replace(deliveries, h('p', { class: 'muted small' }, 'No deliveries yet.'));
        return;
      }
      replace(deliveries, h('table', { class: 'delivery-table', 'aria-label': `Recent deliveries to ${endpoint.url}` },
        h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'Last answer', 'When'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, page.data.map(deliveryRow))));
    } catch (error) {
      if (error.name !== 'AbortError') replace(deliveries, errorBox(error));
    }
  }

  const testButton = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Send test event');
  testButton.addEventListener('click', () => busy(testButton, 'Sending…', async () => {
    replace(status);
    try {
      await api(`/api/v1/webhooks/endpoints/${encodeURIComponent(endpoint.id)}/test`,
        { method: 'POST', signal: ctx.signal });
      replace(status, h('p', { class: 'inline-ok' }, 'Test event queued.'));
      await loadDeliveries();
      // The dispatcher sends within a second or two: show the outcome when it is in.
      setTimeout(() => { if (ctx.isCurrent()) loadDeliveries(); }, 2500);
    } catch (error) {
      if (error.name !== 'AbortError') replace(status, errorBox(error));
    }
  }));
  const refreshButton = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Refresh deliveries');
  refreshButton.addEventListener('click', () => busy(refreshButton, 'Loading…', loadDeliveries));
  const deleteButton = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Delete');
  deleteButton.addEventListener('click', () => busy(deleteButton, 'Deleting…', async () => {
    try {
      await api(`/api/v1/webhooks/endpoints/${encodeURIComponent(endpoint.id)}`,
        { method: 'DELETE', signal: ctx.signal });
      onDeleted(card);
    } catch (error) {
      if (error.name !== 'AbortError') replace(status, errorBox(error));
    }
  }));

  const card = h('li', { class: 'card pad endpoint', dataset: { endpointId: endpoint.id } },
    h('h3', { class: 'endpoint-url' }, endpoint.url),
    h('p', { class: 'muted small' },
      `Endpoint ${shortId(endpoint.id)} · ${endpoint.events.join(', ')}`,
      endpoint.description ? ` · ${endpoint.description}` : ''),
    endpoint.disabled
      ? infoBox(`Disabled: ${endpoint.disabled_reason || 'no reason given'}`, 'error')
      : null,
    h('div', { class: 'actions' }, testButton, refreshButton, deleteButton),
    status,
    h('h4', {}, 'Recent deliveries'),
    deliveries);
  loadDeliveries();
  return card;
}

export async function webhooksView(ctx) {
  const blocked = ctx.requireRole('seller');
  if (blocked) return blocked;

  const list = h('ul', { class: 'endpoint-list', 'aria-label': 'Webhook endpoints' });
  const empty = h('p', { class: 'muted' }, 'No endpoints yet.');
  const created = h('div', { 'aria-live': 'polite' });

  function onDeleted(card) {
    card.remove();
    ctx.toast('Endpoint deleted.');
    if (!list.children.length) list.before(empty);
  }

  const url = field({
    label: 'Endpoint URL', name: 'url', type: 'url', autocomplete: 'off',
    hint: 'https:// address of your server that receives the events', attrs: { maxLength: 2048 },
  });
  const description = field({ label: 'Description', name: 'description', required: false, attrs: { maxLength: 200 } });
  const all = h('input', { type: 'checkbox', name: 'events', value: '*', checked: true, id: 'event-all' });
  const boxes = EVENT_TYPES.map((type) => h('input', { type: 'checkbox', name: 'events', value: type, id: `event-${type}` }));
  const eventsField = h('fieldset', { class: 'field events' },
    h('legend', {}, 'Events'),
    h('label', { for: 'event-all' }, all, ' All events'),
    boxes.map((box) => h('label', { for: box.id }, box, ` ${box.value}`)));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add endpoint');
  const form = h('form', {
    class: 'endpoint-form', noValidate: true, 'aria-label': 'Add a webhook endpoint',
    onsubmit: (event) => {
      event.preventDefault();
      const events = all.checked ? ['*'] : boxes.filter((b) => b.checked).map((b) => b.value);
      busy(submit, 'Adding…', async () => {
        replace(created);
        try {
          const endpoint = await api('/api/v1/webhooks/endpoints', {
            method: 'POST', signal: ctx.signal,
            body: { url: url.input.value.trim(), events, description: description.input.value.trim() },
          });
          replace(created, h('div', { class: 'notice notice-ok secret-once', role: 'status' },
            h('p', { class: 'notice-title' }, 'Endpoint added. Its signing secret, shown only now:'),
            h('code', { class: 'secret' }, endpoint.secret),
            h('p', { class: 'small' }, 'Copy it into your receiver to verify the webhook-signature header; it is not shown again.')));
          empty.remove();
          list.prepend(endpointCard(ctx, endpoint, onDeleted));
          form.reset();
          all.checked = true;
        } catch (error) {
          if (error.name !== 'AbortError') replace(created, errorBox(error));
        }
      });
    },
  }, url.wrap, description.wrap, eventsField, submit);

  const page = await api('/api/v1/webhooks/endpoints?limit=100', { signal: ctx.signal });
  page.data.forEach((endpoint) => list.append(endpointCard(ctx, endpoint, onDeleted)));

  return h('section', { class: 'webhooks' },
    pageTitle('Webhooks', h('p', { class: 'lede' },
      'Your shop’s order, refund and payout events, pushed to your server and signed (Standard Webhooks).')),
    form, created,
    h('h2', { class: 'section-title' }, 'Endpoints'),
    page.data.length ? null : empty,
    list);
}
