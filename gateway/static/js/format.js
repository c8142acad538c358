// Formatting: rupiah, dates, order states, and the friendly text for errors.

/** {amount: 150000, currency: "IDR"} or 150000 -> "Rp 150.000" (integer rupiah, no decimals). */
export function rupiah(money) {
  const amount = typeof money === 'number' ? money : money && money.amount;
  if (amount === undefined || amount === null || Number.isNaN(Number(amount))) return '—';
  const currency = (money && typeof money === 'object' && money.currency) || 'IDR';
  const n = Math.trunc(Number(amount));
  const digits = Math.abs(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  const prefix = currency === 'IDR' ? 'Rp' : currency;
  return `${n < 0 ? '-' : ''}${prefix} ${digits}`;
}

const DATE_FMT = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});

export function dateTime(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : DATE_FMT.format(date);
}

/** "in 14 min", "in 2 h 5 min", "passed". */
export function timeLeft(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  if (Number.isNaN(ms)) return '';
  if (ms <= 0) return 'deadline passed';
  const minutes = Math.ceil(ms / 60000);
  if (minutes < 60) return `${minutes} min left`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min left` : `${hours} h left`;
}

export const ORDER_STATUS = {
  UNPAID: { label: 'Waiting for payment', tone: 'warn' },
  AWAITING_SHIPMENT: { label: 'Paid — awaiting shipment', tone: 'ok' },
  IN_TRANSIT: { label: 'Shipped — in transit', tone: 'info' },
  DELIVERED: { label: 'Delivered', tone: 'ok' },
  COMPLETED: { label: 'Completed', tone: 'ok' },
  EXPIRED: { label: 'Payment expired', tone: 'bad' },
  CANCELLED: { label: 'Cancelled', tone: 'bad' },
  // A checkout (one payment for one order per shop) is UNPAID, PAID, EXPIRED or CANCELLED.
  PAID: { label: 'Paid', tone: 'ok' },
};

export function statusLabel(status) {
  return (ORDER_STATUS[status] || { label: status }).label;
}

export function statusTone(status) {
  return (ORDER_STATUS[status] || { tone: 'info' }).tone;
}

export const PAYMENT_METHODS = {
  bank_transfer: 'Bank transfer (virtual account)',
  ewallet: 'E-wallet',
};

export function shortId(id) {
  return String(id || '').slice(0, 8).toUpperCase();
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** A stable hue (0-359) for a placeholder thumbnail. */
export function hueOf(text) {
  let hash = 0;
  for (const ch of String(text || '')) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 360;
}

export const EXPIRED_MESSAGE =
  'The payment deadline passed before we received your payment, so this order was closed '
  + 'and its items went back on sale. You have not been charged — add the items to your '
  + 'cart again to order them.';

export const UNAVAILABLE_MESSAGE =
  'Etalase is having trouble reaching one of its services right now. Nothing was charged '
  + 'or ordered. Please try again in a moment.';

/**
 * What to tell the shopper about an ApiError: {title, message, detail}.
 * `products` maps product id -> title to name the product in stock messages.
 */
export function describeError(error, { products = {} } = {}) {
  if (!error || error.name !== 'ApiError') {
    return {
      title: 'Something went wrong',
      message: 'An unexpected error happened on this page. Please reload and try again.',
      detail: error && error.message,
    };
  }
  const detail = error.detail && error.detail !== error.title ? error.detail : '';
  if (error.network) {
    return {
      title: 'You seem to be offline',
      message: "Can't reach Etalase. Check your connection and try again.",
      detail: '',
    };
  }
  if ([502, 503, 504].includes(error.status)) {
    const wait = Number(error.retryAfter);
    return {
      title: 'Service temporarily unavailable',
      message: UNAVAILABLE_MESSAGE
        + (wait > 0 ? ` (Try again in about ${plural(wait, 'second')}.)` : ''),
      detail,
    };
  }
  if (error.slug === 'insufficient-stock') {
    const body = error.body || {};
    const name = products[body.product_id] ? `“${products[body.product_id]}”` : 'this product';
    let message;
    if (body.available === 0) {
      message = `Sorry, ${name} is out of stock.`;
    } else if (typeof body.available === 'number') {
      message = `Sorry, only ${body.available} of ${name} ${body.available === 1 ? 'is' : 'are'}`
        + ` left${body.requested ? ` (you asked for ${body.requested})` : ''}.`;
    } else {
      message = `Sorry, there is not enough stock of ${name}.`;
    }
    return {
      title: 'Out of stock',
      message: body.available === 0
        ? `${message} Remove it from your cart to check out the rest.`
        : `${message} Lower the quantity in your cart, then try again.`,
      detail,
    };
  }
  if (error.status === 429) {
    return {
      title: 'Too many attempts',
      message: 'Please wait a few seconds and try again.',
      detail,
    };
  }
  if (error.status === 401) {
    return {
      title: error.title || 'Please sign in',
      message: detail || 'Please sign in to continue.',
      detail: '',
    };
  }
  if (error.status === 403) {
    return {
      title: 'Not allowed',
      message: detail || 'Your account cannot do this.',
      detail: '',
    };
  }
  return { title: error.title || 'Something went wrong', message: detail, detail: '' };
}
