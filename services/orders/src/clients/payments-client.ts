import { AppError, type UpstreamClient } from '@bazaar/chassis';
import type { ErrorCode } from '@bazaar/contracts';

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
  private readonly upstream: UpstreamClient;

  /** `upstream`: orders' client of payments. Tokenizing is a POST: never retried (a retry could mint a second token). */
  constructor(upstream: UpstreamClient) {
    this.upstream = upstream;
  }

  async tokenize(card: Card, authorization: string | undefined): Promise<PaymentToken> {
    const { status, body } = await this.upstream.requestJson<PaymentToken & { code?: string; detail?: string }>({
      method: 'POST',
      path: '/api/payments/tokens',
      body: card,
      headers: authorization ? { authorization } : {},
    });
    if (status === 201) return { token: body.token, brand: body.brand, last4: body.last4 };
    if (status === 422 && (body.code === 'CARD_INVALID' || body.code === 'CARD_EXPIRED')) {
      throw new AppError(body.code as ErrorCode, body.detail ?? 'The card was refused');
    }
    throw new AppError('UPSTREAM_UNAVAILABLE', `payments answered ${status} to a card tokenization`);
  }
}
