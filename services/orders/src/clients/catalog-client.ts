import type { Money } from '@bazaar/contracts';
import { AppError } from '@bazaar/chassis';
import { callUpstream } from './upstream.ts';

export interface PricedProduct {
  id: string;
  name: string;
  price: Money;
  active: boolean;
}

/** Reads current prices from the catalog, which owns them; orders freezes them on the order. */
export class CatalogClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, timeoutMs = 5_000) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.timeoutMs = timeoutMs;
  }

  /** The products among `ids` that are for sale, by id (at most 50 ids). */
  async products(ids: readonly string[]): Promise<Map<string, PricedProduct>> {
    const query = new URLSearchParams({ ids: ids.join(','), pageSize: String(Math.max(ids.length, 1)) });
    const { status, body } = await callUpstream<{ items: PricedProduct[] }>('catalog', `${this.baseUrl}/api/catalog/products?${query}`, { timeoutMs: this.timeoutMs });
    if (status !== 200) throw new AppError('UPSTREAM_UNAVAILABLE', `catalog answered ${status} to a price lookup`);
    return new Map(body.items.filter((p) => p.active).map((p) => [p.id, p]));
  }
}
