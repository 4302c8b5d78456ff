import type { Money } from '@bazaar/contracts';

/**
 * `{amount: 1250, currency: 'EUR'}` → "€12.50": the currency's own number of
 * decimals (¥1,250 for JPY 1250). Formats the exact decimal string, never a float.
 */
export function formatMoney(money: Money): string {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency: money.currency });
  const decimals = format.resolvedOptions().maximumFractionDigits ?? 2;
  const digits = String(money.amount).padStart(decimals + 1, '0');
  const decimal = decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
  return format.format(decimal as Intl.StringNumericLiteral);
}
