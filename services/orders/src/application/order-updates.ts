/**
 * Live order updates: one LISTEN connection per process on the channel the
 * projections notify, fanned out to the status streams open for each order.
 */
import type pg from 'pg';
import type { Database } from '@bazaar/chassis';
import { ORDER_UPDATES_CHANNEL } from '../persistence/order-projections.ts';

type Listener = () => void;

export class OrderUpdates {
  private readonly db: Database;
  private readonly listeners = new Map<string, Set<Listener>>();
  private client: pg.PoolClient | undefined;
  private connecting: Promise<void> | undefined;

  constructor(db: Database) {
    this.db = db;
  }

  /** Calls `listener` whenever the order's read model changes; answers the unsubscribe function. */
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
        for (const listener of this.listeners.get(message.payload) ?? []) listener();
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
