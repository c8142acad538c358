// One product: price, availability, description, quantity and "Add to cart".

import { api } from '../api.js';
import { h } from '../dom.js';
import { availability, pageTitle, price, productThumb } from '../ui.js';
import { addToCart, quantityStepper } from './shared.js';

export async function productView(ctx) {
  const product = await api(`/api/v1/products/${encodeURIComponent(ctx.params.id)}`,
    { signal: ctx.signal });
  const fromContent = /^[0-9a-f-]{36}$/i.test(ctx.query.from || '') ? ctx.query.from : null;
  const forSale = product.status === 'active' && product.stock > 0;
  const status = h('div', { class: 'row-status', 'aria-live': 'polite' });
  const stepper = quantityStepper({ value: 1, min: 1, max: Math.max(1, Math.min(999, product.stock)) });
  const add = h('button', {
    type: 'submit',
    class: 'btn btn-primary btn-wide',
    disabled: !forSale,
    dataset: { action: 'add-to-cart', productId: product.id },
  }, forSale ? 'Add to cart' : 'Not available');
  const form = h('form', {
    class: 'buy-box',
    'aria-label': 'Buy this product',
    onsubmit: (event) => {
      event.preventDefault();
      // Opened from a video or live session: the purchase credits its creator.
      addToCart(ctx, product, stepper.value, add, status, fromContent);
    },
  },
  h('p', { class: 'buy-price' }, price(product.price, 'price-lg')),
  h('p', {}, availability(product),
    product.status === 'active' && product.stock > 0
      ? h('span', { class: 'muted small' }, ` · ${product.stock} in stock`) : null),
  forSale ? h('div', { class: 'field-inline' }, h('span', { class: 'label' }, 'Quantity'), stepper.el) : null,
  add,
  status);

  return h('section', { class: 'product-detail' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/feed' }, '← Feed')),
    h('div', { class: 'product-layout' },
      productThumb(product, 'lg'),
      h('div', { class: 'product-info' },
        pageTitle(product.title),
        h('p', { class: 'muted' }, 'Sold by ', h('strong', {}, product.shop_name || 'a shop')),
        form,
        product.description
          ? h('div', { class: 'description' }, h('h2', { class: 'section-title' }, 'Description'),
            h('p', {}, product.description))
          : null)));
}
