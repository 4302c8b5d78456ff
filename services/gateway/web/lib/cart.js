// @ts-check
/**
 * The cart: product ids and quantities in localStorage (it survives a reload
 * and signing in). Prices are not kept here: the cart page reads them from the
 * catalog, and orders freezes them when the order is placed.
 */

/** @typedef {{ productId: string, quantity: number }} CartLine */

const KEY = 'bazaar.cart';
export const MAX_LINES = 50;
export const MAX_QUANTITY = 99;
/** @type {Set<() => void>} */
const listeners = new Set();

/** @returns {CartLine[]} */
export function lines() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(stored) ? stored.filter((line) => typeof line?.productId === 'string' && Number.isInteger(line.quantity) && line.quantity > 0) : [];
  } catch {
    return [];
  }
}

/** @param {CartLine[]} next */
function store(next) {
  localStorage.setItem(KEY, JSON.stringify(next));
  for (const listener of listeners) listener();
}

/** Add `quantity` of a product (capped per line). @param {string} productId @param {number} quantity */
export function add(productId, quantity) {
  const current = lines();
  const line = current.find((l) => l.productId === productId);
  if (line) line.quantity = Math.min(MAX_QUANTITY, line.quantity + quantity);
  else if (current.length < MAX_LINES) current.push({ productId, quantity: Math.min(MAX_QUANTITY, quantity) });
  else throw new Error(`A cart holds at most ${MAX_LINES} different products`);
  store(current);
}

/** Set a line's quantity; 0 removes it. @param {string} productId @param {number} quantity */
export function set(productId, quantity) {
  store(quantity > 0 ? lines().map((l) => (l.productId === productId ? { ...l, quantity: Math.min(MAX_QUANTITY, quantity) } : l)) : lines().filter((l) => l.productId !== productId));
}

export function clear() {
  store([]);
}

export function count() {
  return lines().reduce((sum, line) => sum + line.quantity, 0);
}

/** @param {() => void} listener */
export function onChange(listener) {
  listeners.add(listener);
  // Another tab changed it.
  addEventListener('storage', (event) => event.key === KEY && listener());
}
