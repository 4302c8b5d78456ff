// @ts-check
/** @typedef {{ amount: number, currency: string }} Money */

/** Integer minor units as the customer reads them. @param {Money} money */
export function money(money) {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency: money.currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(money.amount / 10 ** digits);
}

/** @param {string} iso */
export function dateTime(iso) {
  return new Date(iso).toLocaleString('en', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** @param {string} iso */
export function time(iso) {
  const at = new Date(iso);
  return `${at.toLocaleTimeString('en', { hour12: false })}.${String(at.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * A price as an admin types it in major units ("12", "12.5", "12,50") in minor units
 * (cents); undefined when it is not one. Digits only: no float arithmetic.
 * @param {string} text
 */
export function minorUnits(text) {
  const match = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}

/** Minor units (cents) as an admin edits them: "12.50". @param {number} amount */
export function majorUnits(amount) {
  return `${Math.trunc(amount / 100)}.${String(amount % 100).padStart(2, '0')}`;
}
