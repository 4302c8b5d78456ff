import { randomBytes } from 'node:crypto';
import type { Queryable } from '@bazaar/chassis';
import type { Behaviour, Brand, CardSummary } from '../domain/card.ts';

/** A tokenized card: what payments keeps of it (never the number nor the CVC). */
export interface PaymentMethod {
  token: string;
  customerId: string;
  brand: Brand;
  last4: string;
  expMonth: number;
  expYear: number;
  behaviour: Behaviour;
}

interface PaymentMethodRow {
  token: string;
  customer_id: string;
  brand: Brand;
  last4: string;
  exp_month: number;
  exp_year: number;
  behaviour: Behaviour;
}

/** An opaque, unguessable token: 'pm_' and 18 random bytes in base64url (24 characters). */
function newToken(): string {
  return `pm_${randomBytes(18).toString('base64url')}`;
}

export class PaymentMethodRepository {
  private readonly db: Queryable;
  constructor(db: Queryable) {
    this.db = db;
  }

  async create(customerId: string, card: CardSummary & { expMonth: number; expYear: number }): Promise<PaymentMethod> {
    const method: PaymentMethod = { token: newToken(), customerId, brand: card.brand, last4: card.last4, expMonth: card.expMonth, expYear: card.expYear, behaviour: card.behaviour };
    await this.db.query(
      `INSERT INTO payment_methods (token, customer_id, brand, last4, exp_month, exp_year, behaviour)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [method.token, method.customerId, method.brand, method.last4, method.expMonth, method.expYear, method.behaviour],
    );
    return method;
  }

  /** The payment method behind `token` if it belongs to `customerId`; someone else's looks unknown. */
  async findFor(token: string, customerId: string): Promise<PaymentMethod | undefined> {
    const { rows } = await this.db.query<PaymentMethodRow>(
      'SELECT token, customer_id, brand, last4, exp_month, exp_year, behaviour FROM payment_methods WHERE token = $1 AND customer_id = $2',
      [token, customerId],
    );
    const row = rows[0];
    return row && { token: row.token, customerId: row.customer_id, brand: row.brand, last4: row.last4, expMonth: row.exp_month, expYear: row.exp_year, behaviour: row.behaviour };
  }
}
