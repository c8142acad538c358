// Checkout of the cart's available items (all shops: one payment, one order per shop; or
// one shop's): shipping address, payment method, and an Idempotency-Key that is reused
// when the shopper retries the same submit.

import { api, newIdempotencyKey } from '../api.js';
import { field, h, replace, setFieldError } from '../dom.js';
import { PAYMENT_METHODS, plural, rupiah } from '../format.js';
import { busy, errorBox, pageTitle, price } from '../ui.js';

const ADDRESS_KEY = 'etalase.address';
const ATTEMPT_PREFIX = 'etalase.checkout.';

function load(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function save(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage disabled */
  }
}

/** Worth retrying with the same key: the first attempt's outcome is unknown or transient. */
function retryable(error) {
  return error.network || error.status >= 500 || error.status === 429
    || error.slug === 'idempotency-key-in-use';
}

export async function checkoutView(ctx) {
  const blocked = ctx.requireRole('buyer');
  if (blocked) return blocked;
  const { shopId } = ctx.params;

  const [cart, me] = await Promise.all([
    api('/api/v1/cart', { signal: ctx.signal }),
    api('/api/v1/auth/me', { signal: ctx.signal }).catch(() => null),
  ]);
  const inShop = shopId ? cart.items.filter((item) => item.shop_id === shopId) : cart.items;
  const lines = inShop.filter((item) => item.available);
  const shopCount = new Set(lines.map((item) => item.shop_id)).size;
  const shopName = shopId
    ? (inShop.length ? inShop[0].shop_name : 'this shop')
    : (shopCount === 1 ? lines[0].shop_name : shopCount ? plural(shopCount, 'shop') : 'your cart');
  const attemptKey = ATTEMPT_PREFIX + (shopId || 'all');
  const back = h('p', { class: 'crumbs' }, h('a', { href: '#/cart' }, '← Cart'));
  if (!lines.length) {
    return h('section', { class: 'checkout' }, back, pageTitle('Checkout'),
      h('div', { class: 'notice notice-info' },
        h('p', {}, `Nothing from ${shopName} can be checked out right now. `,
          h('a', { href: '#/cart' }, 'Back to your cart'), '.')));
  }
  const total = lines.reduce((sum, item) => sum + item.line_total.amount, 0);
  const titles = Object.fromEntries(inShop.map((item) => [item.product_id, item.title]));

  const saved = load(localStorage, ADDRESS_KEY) || {};
  const fields = {
    name: field({ label: 'Recipient name', name: 'name', autocomplete: 'name',
                  value: saved.name || (me && me.name) || '' }),
    phone: field({ label: 'Phone number', name: 'phone', type: 'tel', autocomplete: 'tel',
                   inputmode: 'tel', value: saved.phone || '', hint: 'For the courier, e.g. +62 812 3456 7890' }),
    line1: field({ label: 'Street address', name: 'line1', autocomplete: 'street-address',
                   value: saved.line1 || '' }),
    city: field({ label: 'City', name: 'city', autocomplete: 'address-level2', value: saved.city || '' }),
    postal_code: field({ label: 'Postal code', name: 'postal_code', autocomplete: 'postal-code',
                         inputmode: 'numeric', value: saved.postal_code || '' }),
  };
  const methodError = h('p', { class: 'field-error', id: 'method-error' });
  const methods = Object.entries(PAYMENT_METHODS).map(([value, label], i) => {
    const id = `method-${value}`;
    return h('div', { class: 'radio' },
      h('input', { type: 'radio', name: 'payment_method', id, value, checked: i === 0 }),
      h('label', { for: id }, label,
        h('span', { class: 'muted small block' },
          value === 'bank_transfer' ? 'Pay to a virtual account number from your bank app.'
            : 'Pay in your e-wallet app.')));
  });
  const errors = h('div', { class: 'form-errors', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-wide', id: 'place-order' },
    `Place order · ${rupiah(total)}`);

  const summary = h('section', { class: 'card pad summary', 'aria-labelledby': 'summary-title' },
    h('h2', { class: 'section-title', id: 'summary-title' }, `${shopName} · ${plural(lines.reduce((n, i) => n + i.quantity, 0), 'item')}`),
    h('ul', { class: 'summary-lines' }, lines.map((item) => h('li', {},
      h('span', {}, `${item.quantity} × ${item.title}`),
      price(item.line_total)))),
    inShop.length > lines.length
      ? h('p', { class: 'muted small' }, 'Unavailable items of this shop stay in your cart.') : null,
    h('p', { class: 'summary-total' }, h('span', {}, 'Total'), h('strong', {}, rupiah(total))),
    shopCount > 1
      ? h('p', { class: 'muted small', id: 'one-payment' }, `One payment; ${plural(shopCount, 'order')}, one per shop.`)
      : null,
    h('p', { class: 'muted small' }, 'Prices are confirmed by the shop when you place the order.'));

  function clearErrors() {
    replace(errors);
    Object.values(fields).forEach((f) => setFieldError(f, ''));
    methodError.textContent = '';
  }

  function showFieldErrors(fieldErrors) {
    let first = null;
    const rest = [];
    for (const [path, messages] of Object.entries(fieldErrors)) {
      const name = path.replace(/^shipping_address\./, '');
      const text = [].concat(messages).join(' ');
      if (fields[name]) {
        setFieldError(fields[name], text);
        first = first || fields[name].input;
      } else if (path === 'payment_method') {
        methodError.textContent = text;
      } else {
        rest.push(path.startsWith('items') || path === '_body' ? text : `${path}: ${text}`);
      }
    }
    if (first) first.focus();
    return rest;
  }

  const form = h('form', {
    class: 'card pad form checkout-form',
    'aria-label': 'Shipping and payment',
    noValidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      clearErrors();
      const address = Object.fromEntries(
        Object.entries(fields).map(([name, f]) => [name, f.input.value.trim()]),
      );
      const missing = Object.entries(address).filter(([, v]) => !v).map(([k]) => k);
      if (missing.length) {
        missing.forEach((name) => setFieldError(fields[name], 'Required.'));
        fields[missing[0]].input.focus();
        replace(errors, h('p', { class: 'inline-error', role: 'alert' }, 'Please fill in the shipping address.'));
        return;
      }
      const method = form.querySelector('input[name="payment_method"]:checked');
      const body = {
        items: lines.map((item) => ({ product_id: item.product_id, quantity: item.quantity })),
        shipping_address: address,
        payment_method: method ? method.value : 'bank_transfer',
      };
      const raw = JSON.stringify(body);
      // Same submit again (after a timeout or 5xx) -> same key, so at most one order.
      let attempt = load(sessionStorage, attemptKey);
      if (!attempt || attempt.raw !== raw) {
        attempt = { raw, key: newIdempotencyKey() };
        save(sessionStorage, attemptKey, attempt);
      }
      await busy(submit, 'Placing order…', async () => {
        try {
          const result = await api('/api/v1/checkout', {
            method: 'POST', rawBody: raw, headers: { 'Idempotency-Key': attempt.key },
            signal: ctx.signal,
          });
          save(sessionStorage, attemptKey, null);
          save(localStorage, ADDRESS_KEY, address);
          ctx.toast('Order placed. Complete the payment before the deadline.');
          ctx.navigate(result.order ? `#/orders/${result.order.id}` : `#/checkouts/${result.checkout.id}`);
        } catch (error) {
          if (error.name === 'AbortError') return;
          if (!retryable(error)) save(sessionStorage, attemptKey, null);
          const rest = (error.status === 422 ? showFieldErrors(error.fieldErrors) : [])
            .filter((text) => text !== error.detail);
          replace(errors,
            errorBox(error, { products: titles }),
            rest.length ? h('ul', { class: 'small' }, rest.map((r) => h('li', {}, r))) : null,
            error.slug === 'insufficient-stock'
              ? h('p', {}, h('a', { href: '#/cart', class: 'btn btn-secondary' }, 'Review your cart'))
              : null);
        }
      });
    },
  },
  h('fieldset', {},
    h('legend', {}, 'Shipping address'),
    Object.values(fields).map((f) => f.wrap)),
  h('fieldset', { 'aria-describedby': 'method-error' },
    h('legend', {}, 'Payment method'),
    methods,
    methodError),
  errors,
  submit);

  return h('section', { class: 'checkout' }, back, pageTitle('Checkout'),
    h('div', { class: 'checkout-layout' }, form, summary));
}
