import { AppError } from '@bazaar/chassis';
import type { ErrorCode } from '@bazaar/contracts';
import { callUpstream } from './upstream.ts';

export interface Card {
  cardNumber: string;
  expMonth: number;
  expYear: number;
  cvc: string;
}

export interface PaymentToken {
  token: string;
  brand: string;
  last4: string;
}

/**
 * Hands the card to payments, which keeps brand and last four only and answers
 * an opaque token: the card number never enters orders' database or the broker.
 */
export class PaymentsClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, timeoutMs = 5_000) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.timeoutMs = timeoutMs;
  }

  async tokenize(card: Card, authorization: string | undefined): Promise<PaymentToken> {
    const { status, body } = await callUpstream<PaymentToken & { code?: string; detail?: string }>('payments', `${this.baseUrl}/api/payments/tokens`, {
      method: 'POST',
      body: card,
      authorization,
      timeoutMs: this.timeoutMs,
    });
    if (status === 201) return { token: body.token, brand: body.brand, last4: body.last4 };
    if (status === 422 && (body.code === 'CARD_INVALID' || body.code === 'CARD_EXPIRED')) {
      throw new AppError(body.code as ErrorCode, body.detail ?? 'The card was refused');
    }
    throw new AppError('UPSTREAM_UNAVAILABLE', `payments answered ${status} to a card tokenization`);
  }
}
