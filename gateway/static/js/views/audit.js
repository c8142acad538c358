// An order's audit trail (DESIGN.md §9): its entries in the marketplace's transparency log,
// each checked here, in the browser, with its RFC 9162 inclusion proof against the root of
// the checkpoint the showcase's witness cosigned. (Signatures are checked by the offline
// verifier, `python -m transaction_service audit-verify`; this shows the proofs hold.)

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { dateTime } from '../format.js';
import { busy, errorBox } from '../ui.js';

const ACTIONS = {
  'order.placed': 'Order placed',
  'order.awaiting_shipment': 'Payment received',
  'order.in_transit': 'Shipped',
  'order.completed': 'Completed',
  'order.cancelled': 'Cancelled',
  'order.expired': 'Expired',
};

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function sha256(...parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

// RFC 9162 §2.1.3.2: the root an inclusion proof leads to (null when it cannot).
export async function rootFromProof(index, size, leaf, proof) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = await sha256(LEAF, leaf);
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(NODE, p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(NODE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

function sameBytes(a, b) {
  return a && b && a.length === b.length && a.every((x, i) => x === b[i]);
}

// The checkpoint note: origin, size, base64 root, then a blank line and signature lines.
function parseCheckpoint(note) {
  const [body, signatures = ''] = note.split('\n\n');
  const [origin, size, root] = body.split('\n');
  const signers = signatures.split('\n').filter(Boolean).map((line) => line.split(' ')[1]);
  return { origin, size: Number(size), root: fromBase64(root), signers };
}

async function entryRow(entry, checkpoint) {
  const fields = entry.entry;
  let verdict;
  if (entry.inclusion_proof === null || !checkpoint) {
    verdict = h('span', { class: 'audit-pending muted small' }, 'not yet in a checkpoint');
  } else {
    const root = await rootFromProof(entry.index, checkpoint.size, fromBase64(entry.leaf),
      entry.inclusion_proof.map(fromBase64));
    const ok = sameBytes(root, checkpoint.root);
    verdict = h('span', { class: ok ? 'audit-ok' : 'audit-bad', dataset: { verified: String(ok) } },
      ok ? `✓ proven in the log (entry ${entry.index})` : '✗ proof does not match the checkpoint');
  }
  return h('li', { class: 'audit-entry', dataset: { action: fields.action } },
    h('strong', {}, ACTIONS[fields.action] || fields.action), ' ',
    h('span', { class: 'muted small' }, dateTime(fields.created_at)), ' ', verdict);
}

export function auditTrail(orderId, ctx) {
  const out = h('div', { 'aria-live': 'polite', class: 'audit-out' });
  const button = h('button', {
    type: 'button',
    class: 'btn btn-secondary',
    id: 'show-audit',
    onclick: () => busy(button, 'Checking…', async () => {
      try {
        const trail = await api(`/api/v1/orders/${encodeURIComponent(orderId)}/audit`,
          { signal: ctx.signal });
        const checkpoint = trail.checkpoint ? parseCheckpoint(trail.checkpoint) : null;
        const rows = await Promise.all(trail.entries.map((e) => entryRow(e, checkpoint)));
        replace(out,
          checkpoint
            ? h('p', { class: 'audit-checkpoint small' },
              `Checkpoint of ${checkpoint.origin} at ${checkpoint.size} entries, signed by `
              + `${checkpoint.signers.join(' and ')}.`)
            : h('p', { class: 'muted small' }, 'No cosigned checkpoint yet; try again in a few seconds.'),
          h('ul', { class: 'audit-entries' }, rows));
      } catch (error) {
        if (error.name !== 'AbortError') replace(out, errorBox(error));
      }
    }),
  }, 'Show audit trail');
  return h('section', { class: 'card pad audit', 'aria-labelledby': 'audit-title' },
    h('h2', { class: 'section-title', id: 'audit-title' }, 'Audit trail'),
    h('p', { class: 'muted small' },
      'Every change to this order is recorded in a tamper-evident log, witnessed by the showcase.'),
    button, out);
}
