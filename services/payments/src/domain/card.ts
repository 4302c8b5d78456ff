/**
 * Cards as the simulated processor sees them: the number's check digit, its brand,
 * its expiry, and which test card it is. Pure functions; nothing here keeps a
 * card number.
 */

export type Brand = 'visa' | 'mastercard' | 'amex' | 'unknown';

/** How the simulated processor answers for a card (the test cards of docs/checkout.md). */
export type Behaviour = 'approve' | 'decline' | 'insufficient_funds' | 'transient' | 'slow';

export const behaviours: readonly Behaviour[] = ['approve', 'decline', 'insufficient_funds', 'transient', 'slow'];

/** The test cards with a special behaviour; any other valid number approves. */
export const testCards: Readonly<Record<string, Behaviour>> = {
  '4242424242424242': 'approve',
  '4000000000000002': 'decline',
  '4000000000009995': 'insufficient_funds',
  '4000000000000119': 'transient',
  '4000000000000259': 'slow',
};

/** The digits of a card number as typed (spaces allowed), or undefined when it is not 12 to 19 digits. */
export function cardDigits(typed: string): string | undefined {
  const digits = typed.replaceAll(' ', '');
  return /^[0-9]{12,19}$/.test(digits) ? digits : undefined;
}

/** Whether `digits` end with a correct Luhn check digit. */
export function luhnValid(digits: string): boolean {
  if (!/^[0-9]+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    // Double every second digit counting from the check digit (rightmost) leftwards.
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** The Luhn check digit that completes `payload` (the number without its last digit). */
export function luhnCheckDigit(payload: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(`${payload}${d}`)) return String(d);
  throw new Error('unreachable: one digit always completes a Luhn sum');
}

/** The card network, from the number's leading digits (IIN ranges). */
export function brandOf(digits: string): Brand {
  if (digits.startsWith('4')) return 'visa';
  if (digits.startsWith('34') || digits.startsWith('37')) return 'amex';
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return 'mastercard';
  return 'unknown';
}

export function last4Of(digits: string): string {
  return digits.slice(-4);
}

/** Whether a card valid through the end of `expMonth`/`expYear` has expired at `now` (UTC). */
export function isExpired(expMonth: number, expYear: number, now: Date): boolean {
  // Date.UTC's month is 0-based: `expMonth` there is the first instant of the month after.
  return now.getTime() >= Date.UTC(expYear, expMonth, 1);
}

export function behaviourOf(digits: string): Behaviour {
  return testCards[digits] ?? 'approve';
}

/** What may be kept of a card: everything but the number and the CVC. */
export interface CardSummary {
  brand: Brand;
  last4: string;
  behaviour: Behaviour;
}

export type CardCheck = { ok: true; card: CardSummary } | { ok: false; code: 'CARD_INVALID' | 'CARD_EXPIRED'; detail: string };

/** Checks a card as typed and reduces it to what may be kept. Details never repeat the number. */
export function checkCard(card: { cardNumber: string; expMonth: number; expYear: number }, now: Date): CardCheck {
  const digits = cardDigits(card.cardNumber);
  if (!digits) return { ok: false, code: 'CARD_INVALID', detail: 'The card number must be 12 to 19 digits' };
  if (!luhnValid(digits)) return { ok: false, code: 'CARD_INVALID', detail: 'The card number is not valid; check it for typos' };
  if (isExpired(card.expMonth, card.expYear, now)) {
    return { ok: false, code: 'CARD_EXPIRED', detail: `The card expired at the end of ${String(card.expMonth).padStart(2, '0')}/${card.expYear}` };
  }
  return { ok: true, card: { brand: brandOf(digits), last4: last4Of(digits), behaviour: behaviourOf(digits) } };
}
