// The feed (videos and live sessions with their tagged products) and one content's page.

import { api } from '../api.js';
import { h } from '../dom.js';
import { plural } from '../format.js';
import {
  availability, contentThumb, pagedFooter, pageTitle, price, productThumb,
} from '../ui.js';
import { addToCart } from './shared.js';

const PAGE_SIZE = 12;
const PRODUCTS_ON_CARD = 3;

function productLine(product, content) {
  // The product page remembers which content it was opened from (credits the creator).
  return h('li', { class: 'tagged' },
    h('a', { href: `#/product/${product.id}?from=${content.id}`, class: 'tagged-link' },
      productThumb(product, 'xs'),
      h('span', { class: 'tagged-title' }, product.title),
      h('span', { class: 'tagged-meta' }, price(product.price), ' ', availability(product))));
}

function contentCard(content) {
  const products = content.products || [];
  const more = products.length - PRODUCTS_ON_CARD;
  const titleId = `content-${content.id}`;
  return h('li', { class: 'card content-card', 'aria-labelledby': titleId },
    h('a', { href: `#/content/${content.id}`, class: 'content-link', dataset: { contentId: content.id } },
      contentThumb(content),
      h('h2', { class: 'content-title', id: titleId }, content.title)),
    h('p', { class: 'byline' },
      content.kind === 'live' ? 'Live with ' : 'Video by ',
      h('strong', {}, (content.creator && content.creator.name) || 'a creator')),
    products.length
      ? h('ul', { class: 'tagged-list', 'aria-label': `Products in “${content.title}”` },
        products.slice(0, PRODUCTS_ON_CARD).map((p) => productLine(p, content)))
      : h('p', { class: 'muted' }, 'No products for sale in this one.'),
    more > 0
      ? h('p', { class: 'more' }, h('a', { href: `#/content/${content.id}` }, `+ ${plural(more, 'more product')}`))
      : null);
}

export async function feedView(ctx) {
  const list = h('ul', { class: 'feed-grid', 'aria-label': 'Feed' });
  const footer = h('div', { class: 'list-footer' });
  const section = h('section', { class: 'feed' },
    pageTitle('Discover', h('p', { class: 'lede' },
      'Videos and live sessions from creators — buy what they show without leaving this page.')),
    list, footer);

  async function loadPage(cursor) {
    const qs = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (cursor) qs.set('cursor', cursor);
    const page = await api(`/api/v1/feed?${qs}`, { signal: ctx.signal });
    page.data.forEach((content) => list.append(contentCard(content)));
    if (!cursor && page.data.length === 0) {
      list.replaceWith(h('p', { class: 'muted' }, 'Nothing in the feed yet.'));
    }
    pagedFooter(footer, page.next_cursor, (next) => loadPage(next));
  }

  await loadPage(null); // errors of the first page show the route's error screen
  return section;
}

function productRow(ctx, product, content) {
  const status = h('div', { class: 'row-status', 'aria-live': 'polite' });
  const soldOut = !product.in_stock;
  const add = h('button', {
    type: 'button',
    class: 'btn btn-primary',
    disabled: soldOut,
    dataset: { action: 'add-to-cart', productId: product.id },
    'aria-label': `Add ${product.title} to cart`,
    onclick: () => addToCart(ctx, product, 1, add, status, content.id),
  }, soldOut ? 'Sold out' : 'Add to cart');
  return h('li', { class: 'card product-row', dataset: { productId: product.id, shopId: product.shop_id } },
    productThumb(product, 'md'),
    h('div', { class: 'product-row-main' },
      h('h3', { class: 'product-row-title' },
        h('a', { href: `#/product/${product.id}?from=${content.id}` }, product.title)),
      h('p', { class: 'muted small' }, product.shop_name),
      h('p', {}, price(product.price), ' ', availability(product))),
    h('div', { class: 'product-row-actions' }, add, status));
}

export async function contentView(ctx) {
  const content = await api(`/api/v1/contents/${encodeURIComponent(ctx.params.id)}`,
    { signal: ctx.signal });
  const products = content.products || [];
  return h('section', { class: 'content-detail' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/feed' }, '← Feed')),
    h('div', { class: 'content-hero' },
      contentThumb(content, { large: true }),
      h('div', { class: 'content-hero-text' },
        pageTitle(content.title),
        h('p', { class: 'byline' },
          content.kind === 'live' ? 'Live session with ' : 'Video by ',
          h('strong', {}, (content.creator && content.creator.name) || 'a creator')),
        h('p', { class: 'muted small' },
          content.kind === 'live'
            ? 'The live stream is not played on this page; shop its products below.'
            : 'The video is not played on this page; shop its products below.'))),
    h('h2', { class: 'section-title' }, `Products in this ${content.kind === 'live' ? 'live session' : 'video'}`),
    products.length
      ? h('ul', { class: 'product-rows' }, products.map((p) => productRow(ctx, p, content)))
      : h('p', { class: 'muted' }, 'None of the tagged products is for sale any more.'));
}
