// @ts-check
import { fields, h } from './dom.js';
import { clearNotice, describe, notify } from './notice.js';

/**
 * A form whose submission runs `submit` with the values of its named fields (after
 * the browser's own checks of `required`, `pattern` and the like). Its submit buttons
 * are disabled while it runs, so a double click sends once; what goes wrong is shown in
 * the notice, as the service described it.
 * @param {import('./dom.js').Attributes} attributes
 * @param {(values: Record<string, string>) => unknown} submit
 * @param {...(import('./dom.js').Child | import('./dom.js').Child[])} children
 * @returns {HTMLFormElement}
 */
export function form(attributes, submit, ...children) {
  const element = h(
    'form',
    {
      ...attributes,
      onsubmit: async (event) => {
        event.preventDefault();
        clearNotice(); // what the last submission said is not about this one
        const buttons = [...element.querySelectorAll('button[type=submit]')].filter((button) => button instanceof HTMLButtonElement && !button.disabled);
        for (const button of buttons) /** @type {HTMLButtonElement} */ (button).disabled = true;
        try {
          await submit(fields(element));
        } catch (error) {
          notify(describe(error), 'error');
        } finally {
          for (const button of buttons) /** @type {HTMLButtonElement} */ (button).disabled = false;
        }
      },
    },
    ...children,
  );
  return element;
}
