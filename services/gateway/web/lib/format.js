// @ts-check
/** @typedef {{ amount: number, currency: string }} Money */

/** How many digits a currency's minor unit has (ISO 4217: EUR 2, JPY 0, KWD 3). @param {string} currency */
export function fractionDigits(currency) {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

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
 * (cents, for a currency of two decimals); undefined when it is not one, or has more
 * decimals than the currency. Digits only: no float arithmetic.
 * @param {string} text @param {string} [currency]
 */
export function minorUnits(text, currency = 'EUR') {
  const digits = fractionDigits(currency);
  const match = (digits === 0 ? /^\s*(\d{1,11})()\s*$/ : new RegExp(`^\\s*(\\d{1,${11 - digits}})(?:[.,](\\d{1,${digits}}))?\\s*$`)).exec(text);
  if (!match) return undefined;
  return Number(match[1]) * 10 ** digits + Number((match[2] ?? '').padEnd(digits, '0') || '0');
}

/** Minor units as an admin edits them: "12.50" (EUR), "500" (JPY). @param {number} amount @param {string} [currency] */
export function majorUnits(amount, currency = 'EUR') {
  const digits = fractionDigits(currency);
  if (digits === 0) return String(amount);
  const unit = 10 ** digits;
  return `${Math.trunc(amount / unit)}.${String(amount % unit).padStart(digits, '0')}`;
}
