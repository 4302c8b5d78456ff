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
