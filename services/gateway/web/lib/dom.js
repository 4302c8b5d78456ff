// @ts-check
/**
 * Building the page from data without ever parsing data as HTML: every string
 * becomes a text node, so a product name or an error detail cannot inject markup.
 */

/** @typedef {string | number | Node | null | undefined | false} Child */
/** @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Attributes */

/**
 * An element with attributes (`on…` entries become listeners; `false`, null and
 * undefined are left out) and children (nested arrays flattened).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes} [attributes]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  element.append(...nodes(children));
  return element;
}

/** @param {(Child | Child[])[]} children @returns {Node[]} */
function nodes(children) {
  return children.flat().flatMap((child) => (child === null || child === undefined || child === false ? [] : [typeof child === 'object' ? child : document.createTextNode(String(child))]));
}

/** Replace what `parent` shows. @param {Element} parent @param {...(Child | Child[])} children */
export function show(parent, ...children) {
  parent.replaceChildren(...nodes(children));
}

/** The values of a form's named fields. @param {HTMLFormElement} form @returns {Record<string, string>} */
export function fields(form) {
  /** @type {Record<string, string>} */
  const values = {};
  for (const [name, value] of new FormData(form)) if (typeof value === 'string') values[name] = value;
  return values;
}
