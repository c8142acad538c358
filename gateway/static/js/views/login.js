// Sign in (demo accounts listed); the token stays in sessionStorage.

import { h, replace, field } from '../dom.js';
import * as session from '../session.js';
import { busy, errorBox, pageTitle } from '../ui.js';

const DEMO = [
  { email: 'buyer@etalase.test', role: 'Buyer' },
  { email: 'seller@etalase.test', role: 'Seller' },
];
const DEMO_PASSWORD = 'etalase-demo';

function safeNext(next) {
  // Only a route of this page ("/cart", "/product/<id>"), never a URL.
  return typeof next === 'string' && /^\/[\w\-/?=&%.]*$/.test(next) && !next.startsWith('//')
    && !next.startsWith('/login') ? next : null;
}

export async function loginView(ctx) {
  const next = safeNext(ctx.query.next);
  const email = field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'username' });
  const password = field({ label: 'Password', name: 'password', type: 'password',
                           autocomplete: 'current-password' });
  const errors = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-wide' }, 'Sign in');

  const form = h('form', {
    class: 'card pad form',
    'aria-label': 'Sign in',
    noValidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      replace(errors);
      if (!email.input.value.trim() || !password.input.value) {
        replace(errors, h('p', { class: 'inline-error', role: 'alert' },
          'Enter your email and password.'));
        return;
      }
      await busy(submit, 'Signing in…', async () => {
        try {
          await session.signIn(email.input.value.trim(), password.input.value);
        } catch (error) {
          replace(errors, errorBox(error));
          password.input.focus();
          return;
        }
        ctx.toast('You are signed in.');
        const fallback = session.hasRole('seller') && !session.hasRole('buyer') ? '/seller' : '/feed';
        ctx.navigate(`#${next || fallback}`, { replace: true });
      });
    },
  },
  email.wrap, password.wrap, errors, submit);

  const demo = h('div', { class: 'card pad demo' },
    h('h2', { class: 'section-title' }, 'Demo accounts'),
    h('p', { class: 'muted small' }, 'Password for all: ', h('code', {}, DEMO_PASSWORD)),
    h('ul', { class: 'demo-list' }, DEMO.map((account) => h('li', {},
      h('button', {
        type: 'button',
        class: 'btn btn-secondary',
        onclick: () => {
          email.input.value = account.email;
          password.input.value = DEMO_PASSWORD;
          submit.focus();
        },
      }, `Use ${account.role.toLowerCase()} (${account.email})`)))));

  if (session.isSignedIn()) {
    return h('section', { class: 'narrow' }, pageTitle('Sign in'),
      h('div', { class: 'notice notice-info' },
        h('p', {}, 'You are already signed in. ', h('a', { href: `#${next || '/feed'}` }, 'Continue'), '.')),
      form, demo);
  }
  return h('section', { class: 'narrow' },
    pageTitle('Sign in', h('p', { class: 'lede' }, next ? 'Sign in to continue.' : 'Welcome back to Etalase.')),
    form, demo);
}
