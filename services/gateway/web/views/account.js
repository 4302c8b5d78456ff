// @ts-check
import { call, signIn } from '../lib/api.js';
import { h, show } from '../lib/dom.js';
import { form } from '../lib/form.js';

/**
 * Sign in, or create an account and be signed in. `next` (in the query) is
 * where to go afterwards: only a path of this page, never another site.
 * @type {import('../main.js').View}
 */
export async function render({ root, params, query }) {
  const registering = params[0] === 'register';
  const next = query.get('next') ?? '';
  const target = /^\/[\w/?=&%.-]*$/.test(next) ? `#${next}` : '#/';
  const account = form(
    { class: 'account' },
    async ({ email = '', password = '', name = '' }) => {
      if (registering) await call('/api/identity/register', { method: 'POST', body: { email, password, name } });
      await signIn(email, password);
      location.hash = target;
    },
    registering && label('Name', h('input', { name: 'name', required: true, maxlength: 100, autocomplete: 'name' })),
    label('Email', h('input', { name: 'email', type: 'email', required: true, maxlength: 320, autocomplete: 'email' })),
    label(
      'Password',
      h('input', { name: 'password', type: 'password', required: true, minlength: registering ? 12 : 1, maxlength: 128, autocomplete: registering ? 'new-password' : 'current-password' }),
    ),
    registering && h('p', { class: 'muted small' }, '12 to 128 characters; not your email, not a common password.'),
    h('button', { type: 'submit' }, registering ? 'Create account' : 'Sign in'),
  );
  show(
    root,
    h('h1', {}, registering ? 'Create an account' : 'Sign in'),
    account,
    registering
      ? h('p', {}, 'Have an account? ', h('a', { href: `#/signin${next ? `?next=${encodeURIComponent(next)}` : ''}` }, 'Sign in'))
      : h('p', {}, 'New here? ', h('a', { href: `#/register${next ? `?next=${encodeURIComponent(next)}` : ''}` }, 'Create an account')),
  );
}

/** @param {string} text @param {HTMLElement} input */
function label(text, input) {
  return h('label', {}, h('span', {}, text), input);
}
