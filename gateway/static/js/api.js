// The only way the page talks to the server: same-origin, relative paths, JSON in and out.
// Errors become ApiError carrying the problem+json document (RFC 9457).

const TOKEN_KEY = 'etalase.token';

export class ApiError extends Error {
  constructor({ status = 0, title, detail, type, body = null, retryAfter = null,
                network = false }) {
    super(detail || title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.title = title || (network ? 'Network error' : `HTTP ${status}`);
    this.detail = detail || '';
    this.type = type || '';
    this.body = body || {};
    this.retryAfter = retryAfter;
    this.network = network;
  }

  /** The last segment of the problem type URI, e.g. "insufficient-stock". */
  get slug() {
    if (!this.type) return '';
    return this.type.split(/[/#]/).filter(Boolean).pop() || '';
  }

  get fieldErrors() {
    return (this.body && this.body.errors) || {};
  }

  get requestId() {
    return this.body && this.body.request_id;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the session lasts until reload */
  }
}

/** Claims of the stored JWT (not verified here: the services verify it; this is UI only). */
export function tokenClaims() {
  const token = getToken();
  if (!token) return null;
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''),
    );
    const claims = JSON.parse(json);
    if (claims.exp && claims.exp * 1000 < Date.now()) return null;
    return claims;
  } catch {
    return null;
  }
}

const listeners = new Set();
/** Called with the ApiError whenever an authenticated request answers 401. */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

/**
 * Call the API. `path` must be an absolute path on this origin ("/api/v1/...").
 * `rawBody` sends an already serialised JSON string (byte-identical retries).
 */
export async function api(path, { method = 'GET', body, rawBody, headers = {}, auth = true,
                                  signal } = {}) {
  if (!path.startsWith('/') || path.startsWith('//')) {
    throw new Error(`refusing a non same-origin path: ${path}`);
  }
  const sendHeaders = { Accept: 'application/json, application/problem+json', ...headers };
  const token = auth ? getToken() : null;
  if (token) sendHeaders.Authorization = `Bearer ${token}`;
  let payload;
  if (rawBody !== undefined) payload = rawBody;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) sendHeaders['Content-Type'] = 'application/json';

  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sendHeaders,
      body: payload,
      signal,
      cache: 'no-store',
      credentials: 'same-origin',
      redirect: 'error', // never follow a redirect anywhere
    });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError({
      status: 0,
      title: 'Network error',
      detail: 'The request did not reach Etalase.',
      network: true,
    });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const problem = data && typeof data === 'object' ? data : {};
    const error = new ApiError({
      status: response.status,
      title: problem.title || response.statusText,
      detail: problem.detail,
      type: problem.type,
      body: problem,
      retryAfter: response.headers.get('Retry-After'),
    });
    if (response.status === 401 && token) listeners.forEach((fn) => fn(error));
    throw error;
  }
  return data;
}

export function newIdempotencyKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // Non-secure contexts (plain http on a LAN address) lack randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
