import { Type, type Static } from 'typebox';

/** ISO 4217 currency code. */
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 currency code', examples: ['EUR'] });

/** An amount of money: integer minor units (cents) plus currency. Never a float. */
export const Money = Type.Object(
  {
    amount: Type.Integer({ minimum: 0, maximum: 100_000_000_00, description: 'Integer minor units, e.g. cents' }),
    currency: Currency,
  },
  { additionalProperties: false },
);
export type Money = Static<typeof Money>;
