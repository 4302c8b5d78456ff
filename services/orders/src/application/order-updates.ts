/**
 * Live order updates: one LISTEN connection per process on the channel the
 * projections notify, fanned out to the status streams open for each order.
 */
import type pg from 'pg';
import type { Database } from '@bazaar/chassis';
import type { OrderView } from '../domain/order-view.ts';
import { ORDER_UPDATES_CHANNEL, parseOrderUpdate } from '../persistence/order-projections.ts';

/** Called with the order's new view when the notice carried it (parsed once for all of the order's streams), without when it must be read. */
type Listener = (view?: OrderView) => void;

export class OrderUpdates {
  private readonly db: Database;
  private readonly listeners = new Map<string, Set<Listener>>();
  private client: pg.PoolClient | undefined;
  private connecting: Promise<void> | undefined;

  constructor(db: Database) {
    this.db = db;
  }

  /** Calls `listener` whenever the order's read model changes (with the new view when the notice carried it); answers the unsubscribe function. */
  async subscribe(orderId: string, listener: Listener): Promise<() => void> {
    await this.listen();
    let set = this.listeners.get(orderId);
    if (!set) this.listeners.set(orderId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(orderId);
    };
  }

  private listen(): Promise<void> {
    this.connecting ??= (async () => {
      const client = await this.db.pool.connect();
      client.on('notification', (message) => {
        if (message.channel !== ORDER_UPDATES_CHANNEL || !message.payload) return;
        const update = parseOrderUpdate(message.payload);
        const listeners = this.listeners.get(update.orderId);
        if (!listeners) return;
        const view = update.view?.();
        for (const listener of listeners) listener(view);
      });
      client.on('error', () => {
        // The connection dropped: forget it, so the next subscriber listens again; streams open now end (clients reconnect).
        this.client = undefined;
        this.connecting = undefined;
        for (const set of this.listeners.values()) for (const listener of set) listener();
      });
      await client.query(`LISTEN ${ORDER_UPDATES_CHANNEL}`);
      this.client = client;
    })().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const client = this.client;
    this.client = undefined;
    this.connecting = undefined;
    if (client) {
      await client.query(`UNLISTEN ${ORDER_UPDATES_CHANNEL}`).catch(() => {});
      client.release();
    }
  }
}
