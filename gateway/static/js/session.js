// Who is signed in (token in sessionStorage), the account, and the cart badge.

import { api, getToken, setToken, tokenClaims } from './api.js';

const state = {
  account: null,
  cartCount: null,
};
const subscribers = new Set();

export function subscribe(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

function changed() {
  subscribers.forEach((fn) => fn(state));
}

export function isSignedIn() {
  return Boolean(getToken() && tokenClaims());
}

export function roles() {
  const claims = tokenClaims();
  return (claims && claims.roles) || [];
}

export function hasRole(role) {
  return roles().includes(role);
}

export function account() {
  return state.account;
}

export function cartCount() {
  return state.cartCount;
}

export async function signIn(email, password) {
  const data = await api('/api/v1/auth/login', {
    method: 'POST', body: { email, password }, auth: false,
  });
  setToken(data.access_token);
  state.account = null;
  state.cartCount = null;
  await refresh();
  return state.account;
}

export function signOut() {
  setToken(null);
  state.account = null;
  state.cartCount = null;
  changed();
}

/** Load the account (and the cart badge for buyers); failures leave the badge empty. */
export async function refresh() {
  if (!isSignedIn()) {
    if (getToken()) setToken(null); // expired
    state.account = null;
    state.cartCount = null;
    changed();
    return;
  }
  try {
    state.account = await api('/api/v1/auth/me');
  } catch {
    state.account = state.account || null;
  }
  if (hasRole('buyer')) {
    try {
      setCart(await api('/api/v1/cart'));
    } catch {
      /* the badge is optional */
    }
  }
  changed();
}

/** Re-read the cart badge (buyers only); quiet on failure. */
export async function refreshCart() {
  if (!isSignedIn() || !hasRole('buyer')) return;
  try {
    setCart(await api('/api/v1/cart'));
  } catch {
    /* the badge is optional */
  }
}

/** Update the badge from a cart document returned by any cart call. */
export function setCart(cart) {
  if (!cart || !Array.isArray(cart.items)) return;
  state.cartCount = cart.items.reduce((sum, item) => sum + item.quantity, 0);
  changed();
}
