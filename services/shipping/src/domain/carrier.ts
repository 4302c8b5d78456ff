/**
 * The simulated carrier, Bazaar Post: which destinations it serves and the
 * tracking numbers it hands out. Pure rules; the database keeps the bookings.
 */
import { randomInt } from 'node:crypto';
import { countryName, isIsoCountry } from './countries.ts';

export const CARRIER = 'Bazaar Post';

/** 'BZ' and twelve digits or capital letters. */
export const TRACKING_NUMBER = /^BZ[0-9A-Z]{12}$/;
const trackingAlphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export type Destination = { served: true } | { served: false; code: 'DESTINATION_UNSUPPORTED'; reason: string };

/** Whether Bazaar Post delivers to `country` (an ISO 3166-1 alpha-2 code): every country but Antarctica. */
export function destination(country: string): Destination {
  if (!isIsoCountry(country)) return { served: false, code: 'DESTINATION_UNSUPPORTED', reason: `We cannot deliver to ${country}: it is not a country code we know.` };
  if (country === 'AQ') return { served: false, code: 'DESTINATION_UNSUPPORTED', reason: `We cannot deliver to ${countryName(country)} (${country}).` };
  return { served: true };
}

/**
 * A fresh random tracking number. Random, not sequential, so one cannot guess
 * another customer's; 36^12 values make a collision rare, and the database's
 * unique constraint catches the rare one (the booking then draws again).
 */
export function newTrackingNumber(random: (max: number) => number = randomInt): string {
  let suffix = '';
  for (let i = 0; i < 12; i++) suffix += trackingAlphabet[random(trackingAlphabet.length)];
  return `BZ${suffix}`;
}
