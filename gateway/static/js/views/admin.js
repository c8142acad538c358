// The admin's screen: disable an account by its id. Its logins stop at once, its tokens
// are refused by the showcase at once and by the marketplace within 30 seconds.

import { api } from '../api.js';
import { field, h, replace, setFieldError } from '../dom.js';
import { dateTime } from '../format.js';
import { busy, errorBox, pageTitle } from '../ui.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function adminView(ctx) {
  const blocked = ctx.requireRole('admin');
  if (blocked) return blocked;

  const accountId = field({
    label: 'Account id', name: 'account_id', autocomplete: 'off',
    hint: 'The account’s id (a UUID), as GET /api/v1/auth/me shows it.',
  });
  const status = h('div', { 'aria-live': 'polite', class: 'disable-result' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Disable account');
  const form = h('form', {
    class: 'form disable-form',
    noValidate: true,
    'aria-label': 'Disable an account',
    onsubmit: (event) => {
      event.preventDefault();
      const id = accountId.input.value.trim();
      if (!UUID.test(id)) {
        setFieldError(accountId, 'Enter an account id such as 3f1c9a52-6d0e-4a57-9d0b-1b2f0a8e7c11.');
        accountId.input.focus();
        return;
      }
      setFieldError(accountId, '');
      busy(button, 'Disabling…', async () => {
        replace(status);
        try {
          const account = await api(`/api/v1/admin/accounts/${encodeURIComponent(id)}/disable`, {
            method: 'POST', signal: ctx.signal,
          });
          replace(status, h('p', { class: 'inline-ok' },
            `${account.email} (${account.role}) is disabled since ${dateTime(account.disabled_at)}.`));
          ctx.toast('Account disabled.');
        } catch (error) {
          if (error.name !== 'AbortError') replace(status, errorBox(error));
        }
      });
    },
  }, accountId.wrap, button);

  return h('section', { class: 'admin' },
    pageTitle('Accounts', h('p', { class: 'lede' },
      'Disable an account: it can no longer sign in, and its sessions stop working within a minute.')),
    form, status);
}
