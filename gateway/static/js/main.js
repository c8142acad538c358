// Etalase shopper page: hash routing (#/feed, #/product/<id>, ...), the header, toasts.
// The document never navigates away from its URL; only the hash changes.

import { onUnauthorized } from './api.js';
import { clear, h, replace } from './dom.js';
import * as session from './session.js';
import { errorBox, pageTitle } from './ui.js';
import { cartView } from './views/cart.js';
import { checkoutView } from './views/checkout.js';
import { creatorView } from './views/creator.js';
import { contentView, feedView } from './views/feed.js';
import { loginView } from './views/login.js';
import { checkoutPaymentView, orderView, ordersView } from './views/orders.js';
import { productView } from './views/product.js';
import { disputesView } from './views/returns.js';
import { sellerView } from './views/seller.js';
import { webhooksView } from './views/webhooks.js';
import { adminView } from './views/admin.js';

const ROUTES = [
  { pattern: /^\/feed$/, view: feedView, nav: 'feed' },
  { pattern: /^\/content\/([\w-]+)$/, view: contentView, nav: 'feed', params: ['id'] },
  { pattern: /^\/product\/([\w-]+)$/, view: productView, nav: 'feed', params: ['id'] },
  { pattern: /^\/login$/, view: loginView, nav: 'login' },
  { pattern: /^\/cart$/, view: cartView, nav: 'cart' },
  { pattern: /^\/checkout\/([\w-]+)$/, view: checkoutView, nav: 'cart', params: ['shopId'] },
  { pattern: /^\/checkout$/, view: checkoutView, nav: 'cart' },
  { pattern: /^\/checkouts\/([\w-]+)$/, view: checkoutPaymentView, nav: 'orders', params: ['id'] },
  { pattern: /^\/orders$/, view: ordersView, nav: 'orders' },
  { pattern: /^\/orders\/([\w-]+)$/, view: orderView, nav: 'orders', params: ['id'] },
  { pattern: /^\/seller$/, view: sellerView, nav: 'seller' },
  { pattern: /^\/seller\/webhooks$/, view: webhooksView, nav: 'webhooks' },
  { pattern: /^\/creator$/, view: creatorView, nav: 'creator' },
  { pattern: /^\/admin$/, view: adminView, nav: 'admin' },
  { pattern: /^\/admin\/disputes$/, view: disputesView, nav: 'disputes' },
];

const viewEl = document.getElementById('view');
const navEl = document.getElementById('nav-links');
const toastEl = document.getElementById('toast');

let current = null; // {id, controller, cleanups, nav}
let routeSeq = 0;
let toastTimer = null;

export function toast(text, tone = 'ok') {
  clearTimeout(toastTimer);
  replace(toastEl, h('p', { class: `toast toast-${tone}` }, text));
  toastTimer = setTimeout(() => clear(toastEl), 4000);
}

/** Go to a route ("#/cart"); `replace` keeps the current history entry. */
export function navigate(hash, { replace: replaceEntry = false } = {}) {
  const target = hash.startsWith('#') ? hash : `#${hash}`;
  if (replaceEntry) {
    history.replaceState(history.state, '', target);
    render();
  } else if (location.hash === target) {
    render();
  } else {
    location.hash = target;
  }
}

export function currentRoute() {
  return location.hash.replace(/^#/, '') || '/feed';
}

function parse(hash) {
  const raw = hash.replace(/^#/, '') || '/feed';
  const [path, queryString = ''] = raw.split('?');
  const query = Object.fromEntries(new URLSearchParams(queryString));
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match) {
      const params = {};
      (route.params || []).forEach((name, i) => { params[name] = decodeURIComponent(match[i + 1]); });
      return { route, params, query, path };
    }
  }
  return { route: null, params: {}, query, path };
}

function leave() {
  if (!current) return;
  current.controller.abort();
  current.cleanups.forEach((fn) => {
    try {
      fn();
    } catch {
      /* ignore */
    }
  });
  current = null;
}

async function render() {
  const hash = location.hash;
  if (!hash || hash === '#' || hash === '#/') {
    history.replaceState(history.state, '', '#/feed');
  } else if (!hash.startsWith('#/')) {
    return; // an in-page anchor, not a route
  }
  leave();
  const seq = ++routeSeq;
  const { route, params, query, path } = parse(location.hash);
  const controller = new AbortController();
  const cleanups = [];
  current = { seq, controller, cleanups, nav: route ? route.nav : null };
  renderNav();
  const ctx = {
    params,
    query,
    path,
    signal: controller.signal,
    isCurrent: () => seq === routeSeq,
    onLeave: (fn) => cleanups.push(fn),
    navigate,
    toast,
    requireRole: (role) => requireRole(role, path, query),
  };
  replace(viewEl, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  if (route && route.view !== cartView) session.refreshCart(); // paid items leave the cart
  let content;
  try {
    content = route ? await route.view(ctx) : notFound();
  } catch (error) {
    if (error && error.name === 'AbortError') return;
    content = h('section', {}, pageTitle('This page could not be loaded'), errorBox(error, { retry: render }));
  }
  if (seq !== routeSeq || !content) return; // the shopper moved on meanwhile
  replace(viewEl, content);
  window.scrollTo(0, 0);
  const heading = viewEl.querySelector('h1');
  if (heading) heading.focus({ preventScroll: true });
  document.title = heading ? `${heading.textContent} · Etalase` : 'Etalase';
}

/**
 * null when the signed-in user has `role`; otherwise an element to show instead (and a
 * redirect to the login screen when nobody is signed in).
 */
function requireRole(role, path, query) {
  if (!session.isSignedIn()) {
    const qs = new URLSearchParams(query).toString();
    const next = qs ? `${path}?${qs}` : path;
    navigate(`#/login?next=${encodeURIComponent(next)}`, { replace: true });
    return h('span');
  }
  if (session.hasRole(role)) return null;
  const what = role === 'admin' ? 'an admin account' : `a ${role} account`;
  return h('section', {},
    pageTitle('Not available for this account'),
    h('div', { class: 'notice notice-info' },
      h('p', {}, `This screen needs ${what}. You are signed in as `,
        h('strong', {}, session.roles().join(', ') || 'a user'), '.'),
      h('button', {
        type: 'button',
        class: 'btn btn-secondary',
        onclick: () => {
          session.signOut();
          navigate(`#/login?next=${encodeURIComponent(path)}`);
        },
      }, 'Sign in with another account')));
}

function notFound() {
  return h('section', {},
    pageTitle('Page not found'),
    h('p', {}, 'There is nothing at this address. ', h('a', { href: '#/feed' }, 'Back to the feed'), '.'));
}

function navItem(key, href, label, extra = null) {
  const active = current && current.nav === key;
  return h('li', {},
    h('a', { href, class: `navlink${active ? ' active' : ''}`, 'aria-current': active ? 'page' : null,
             dataset: { nav: key } }, label, extra));
}

function renderNav() {
  const items = [navItem('feed', '#/feed', 'Feed')];
  const signedIn = session.isSignedIn();
  if (!signedIn || session.hasRole('buyer')) {
    const count = session.cartCount();
    items.push(navItem('cart', '#/cart', 'Cart', count ? [
      h('span', { class: 'count', 'aria-hidden': 'true' }, String(count)),
      h('span', { class: 'sr-only' }, `, ${count} ${count === 1 ? 'item' : 'items'}`),
    ] : null));
    items.push(navItem('orders', '#/orders', 'Orders'));
  }
  if (signedIn && session.hasRole('seller')) {
    items.push(navItem('seller', '#/seller', 'To ship'));
    items.push(navItem('webhooks', '#/seller/webhooks', 'Webhooks'));
  }
  if (signedIn && session.hasRole('creator')) {
    items.push(navItem('creator', '#/creator', 'Earnings'));
  }
  if (signedIn && session.hasRole('admin')) {
    items.push(navItem('admin', '#/admin', 'Accounts'));
    items.push(navItem('disputes', '#/admin/disputes', 'Disputes'));
  }
  if (signedIn) {
    const account = session.account();
    items.push(h('li', {},
      h('button', {
        type: 'button',
        class: 'navlink navbutton',
        id: 'sign-out',
        title: account ? `Signed in as ${account.email}` : 'Signed in',
        onclick: () => {
          session.signOut();
          toast('You are signed out.');
          navigate('#/feed');
        },
      }, 'Sign out', account ? h('span', { class: 'who' }, ` (${account.name.split(' ')[0]})`) : null)));
  } else {
    items.push(navItem('login', '#/login', 'Sign in'));
  }
  replace(navEl, items);
}

onUnauthorized(() => {
  session.signOut();
  toast('Your session ended. Please sign in again.', 'warn');
  const route = currentRoute();
  if (!route.startsWith('/login')) {
    navigate(`#/login?next=${encodeURIComponent(route)}`, { replace: true });
  }
});

session.subscribe(renderNav);
window.addEventListener('hashchange', render);
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  viewEl.focus();
});

renderNav();
session.refresh();
render();
