import { Type, type Static } from '@bazaar/chassis';
import { Money } from '@bazaar/contracts';

export type PaymentStatus = 'AUTHORIZED' | 'CAPTURED' | 'VOIDED' | 'REFUNDED' | 'DECLINED';

/** A payment as payments keeps it: one per order. Amounts in minor units of `currency`. */
export interface Payment {
  id: string;
  orderId: string;
  /** Null for a tombstone: a compensation for an order payments never saw. */
  customerId: string | null;
  amount: number;
  currency: string | null;
  status: PaymentStatus;
  brand: string | null;
  last4: string | null;
  declineCode: string | null;
  authorizedAmount: number | null;
  capturedAmount: number;
  refundedAmount: number;
  createdAt: Date;
  updatedAt: Date;
}

/** Codes of payments' own refusals (the processor's are in processor.ts). */
export const refusalReasons = {
  PAYMENT_TOKEN_UNKNOWN: 'We could not find the card for this payment; please enter it again.',
  ORDER_CLOSED: 'This order was already cancelled, so no payment was taken.',
  PAYMENT_NOT_AUTHORIZED: 'There is no authorized payment to capture for this order.',
} as const;

export const PaymentView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  orderId: Type.String({ format: 'uuid' }),
  amount: Money,
  status: Type.Union([Type.Literal('AUTHORIZED'), Type.Literal('CAPTURED'), Type.Literal('VOIDED'), Type.Literal('REFUNDED'), Type.Literal('DECLINED')]),
  brand: Type.Union([Type.String(), Type.Null()], { description: 'Card network; null when the payment token was unknown' }),
  last4: Type.Union([Type.String({ pattern: '^[0-9]{4}$' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type PaymentView = Static<typeof PaymentView>;

/** What a customer sees of a payment (never a tombstone: those have no customer). */
export function paymentView(payment: Payment): PaymentView {
  return {
    id: payment.id,
    orderId: payment.orderId,
    amount: { amount: payment.amount, currency: payment.currency ?? 'XXX' },
    status: payment.status,
    brand: payment.brand,
    last4: payment.last4,
    createdAt: payment.createdAt.toISOString(),
    updatedAt: payment.updatedAt.toISOString(),
  };
}
