import type { Money } from '@bazaar/contracts';
import { AppError, type UpstreamClient } from '@bazaar/chassis';

export interface PricedProduct {
  id: string;
  name: string;
  price: Money;
  active: boolean;
}

/** Reads current prices from the catalog, which owns them; orders freezes them on the order. */
export class CatalogClient {
  private readonly upstream: UpstreamClient;

  /** `upstream`: orders' client of catalog, with the policies the topology declares (a GET: retried within the budget). */
  constructor(upstream: UpstreamClient) {
    this.upstream = upstream;
  }

  /** The products among `ids` that are for sale, by id (at most 50 ids). */
  async products(ids: readonly string[]): Promise<Map<string, PricedProduct>> {
    const query = new URLSearchParams({ ids: ids.join(','), pageSize: String(Math.max(ids.length, 1)) });
    const { status, body } = await this.upstream.requestJson<{ items: PricedProduct[] }>({ path: `/api/catalog/products?${query}` });
    if (status !== 200) throw new AppError('UPSTREAM_UNAVAILABLE', `catalog answered ${status} to a price lookup`);
    return new Map(body.items.filter((p) => p.active).map((p) => [p.id, p]));
  }
}
