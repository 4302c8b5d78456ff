// @ts-check
import { ApiError } from './api.js';

/** The banner under the header: what just happened, or why it did not. */
function banner() {
  return /** @type {HTMLElement} */ (document.getElementById('notice'));
}

/** @param {string} message @param {'info' | 'error'} [kind] */
export function notify(message, kind = 'info') {
  const element = banner();
  element.textContent = message;
  element.className = `notice ${kind}`;
  element.hidden = false;
}

export function clearNotice() {
  banner().hidden = true;
}

/** What went wrong, as a customer reads it: the service's detail and its stable code. @param {unknown} error */
export function describe(error) {
  if (error instanceof ApiError) {
    const fields = error.problem.errors?.map((e) => `${e.path.replace(/^\//, '') || 'body'}: ${e.message}`).join('; ');
    return `${error.message}${fields ? ` (${fields})` : ''} [${error.code}]`;
  }
  return error instanceof Error ? error.message : String(error);
}
