import type { IncomingHttpHeaders } from 'node:http';

/** An upstream answer as the cache keeps it. */
export interface CachedResponse {
  status: number;
  /** The upstream's response headers, lower-case names. */
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** When it was stored, on the cache's clock (set by {@link ResponseCache.set}; e.g. for an `Age` header). */
  storedAt: number;
}

export interface ResponseCacheOptions {
  /** How long an entry may be served at most. A safety net: catalog events invalidate entries as soon as they are heard. */
  ttlMs: number;
  /** Entries kept at most; the least recently used goes first. */
  maxEntries: number;
  /** Larger bodies are not stored. Default 256 KiB. */
  maxBodyBytes?: number;
  /** Path prefixes whose public reads are cached. Default the catalog's products and categories. */
  prefixes?: readonly string[];
  now?: () => number;
}

interface Stats {
  entries: number;
  hits: number;
  misses: number;
  invalidations: number;
}

const DEFAULT_PREFIXES = ['/api/catalog/products', '/api/catalog/categories'];
const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

/**
 * The gateway's in-memory cache of public catalog reads: answers that are the
 * same for every caller, so one replica can serve them without asking the
 * catalog. Entries are kept coherent by catalog events, not by time: every
 * product or stock change heard by this replica ({@link invalidate}) drops all
 * of them; the TTL only bounds how long a missed event can leave one stale.
 *
 * Keys carry the cache's generation (bumped by every invalidation), taken when
 * the request arrives: an answer fetched before an invalidation but stored after
 * it belongs to an older generation and is dropped, so it cannot outlive the
 * change it predates.
 *
 * Only what is safe to share is cached: GET and HEAD without credentials
 * (Authorization, Cookie), and 200 answers that do not forbid it (`no-store`,
 * `private`), set no cookie and do not vary on request headers. `no-cache` does
 * not prevent storing: it asks for revalidation, and the catalog's events keep
 * entries fresh more precisely than a revalidation would.
 */
export class ResponseCache {
  private readonly entries = new Map<string, CachedResponse>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBodyBytes: number;
  private readonly prefixes: readonly string[];
  private readonly now: () => number;
  private generation = 0;
  private hits = 0;
  private misses = 0;
  private invalidations = 0;

  constructor(options: ResponseCacheOptions) {
    if (!(options.ttlMs > 0)) throw new Error(`ttlMs must be positive (got ${options.ttlMs})`);
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) throw new Error(`maxEntries must be a positive integer (got ${options.maxEntries})`);
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.prefixes = options.prefixes ?? DEFAULT_PREFIXES;
    this.now = options.now ?? Date.now;
  }

  /** Key for a request, or undefined when it must not be cached: only GET/HEAD, no Authorization or Cookie header, path under one of the cacheable prefixes. */
  keyFor(method: string, url: string, headers: IncomingHttpHeaders): string | undefined {
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    // An authenticated caller may be shown more than the public (an admin sees inactive products).
    if (headers.authorization !== undefined || headers.cookie !== undefined) return undefined;
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (!this.prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) return undefined;
    // `<generation> <method> <url>`: the generation is the token `set` checks.
    return `${this.generation} ${method} ${url}`;
  }

  get(key: string): CachedResponse | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses += 1;
      return undefined;
    }
    this.entries.delete(key);
    if (this.now() - entry.storedAt >= this.ttlMs) {
      this.misses += 1;
      return undefined;
    }
    this.entries.set(key, entry); // most recently used last
    this.hits += 1;
    return entry;
  }

  /** Stores only 200 answers whose Cache-Control does not say no-store/private and that carry no Set-Cookie. */
  set(key: string, response: CachedResponse): void {
    if (generationOf(key) !== this.generation) return; // fetched before an invalidation: possibly stale
    if (!this.storable(response)) return;
    this.entries.delete(key);
    this.entries.set(key, { ...response, storedAt: this.now() });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value!;
      this.entries.delete(oldest);
    }
  }

  /** Called for every catalog event: product-changed / stock-changed of product `productId`. Invalidate every entry that may show that product (simplest correct: all entries; a generation counter is fine). */
  invalidate(_reason: string): void {
    // Any listing may show the product (searches, categories, pages): drop everything.
    this.generation += 1;
    this.entries.clear();
    this.invalidations += 1;
  }

  stats(): Stats {
    return { entries: this.entries.size, hits: this.hits, misses: this.misses, invalidations: this.invalidations };
  }

  private storable(response: CachedResponse): boolean {
    if (response.status !== 200) return false;
    if (response.body.length > this.maxBodyBytes) return false;
    const headers = response.headers;
    if (header(headers, 'set-cookie') !== undefined) return false;
    // The key holds no request header, so an answer that depends on one cannot be shared.
    if (header(headers, 'vary') !== undefined) return false;
    const cacheControl = header(headers, 'cache-control');
    if (cacheControl !== undefined && /(?:^|,)\s*(?:no-store|private)\s*(?:[=,]|$)/i.test(cacheControl)) return false;
    return true;
  }
}

function generationOf(key: string): number {
  return Number(key.slice(0, key.indexOf(' ')));
}

/** A response header's value (all values joined), whatever the case of its name. */
function header(headers: Record<string, string | string[]>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(', ') : value;
  }
  return undefined;
}
