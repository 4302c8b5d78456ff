import { randomUUID } from 'node:crypto';
import type { Database, Outbox, Queryable } from '@bazaar/chassis';
import type { ProductView } from '../domain/product.ts';

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  price_amount: string;
  price_currency: string;
  category: string;
  images: string[];
  active: boolean;
  on_hand: number;
  reserved: number;
  version: number;
  updated_at: Date;
}

const columns = 'id, sku, name, description, price_amount, price_currency, category, images, active, on_hand, reserved, version, updated_at';

function toView(row: ProductRow): ProductView {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    description: row.description,
    price: { amount: Number(row.price_amount), currency: row.price_currency },
    category: row.category,
    images: row.images,
    active: row.active,
    available: row.on_hand - row.reserved,
    onHand: row.on_hand,
    reserved: row.reserved,
    version: row.version,
    updatedAt: row.updated_at.toISOString(),
  };
}

export interface ProductSearch {
  q?: string | undefined;
  category?: string | undefined;
  /** Only these products (still only active ones). */
  ids?: readonly string[] | undefined;
  page: number;
  pageSize: number;
}

export interface NewProduct {
  sku: string;
  name: string;
  description: string;
  price: { amount: number; currency: string };
  category: string;
  images: string[];
  active: boolean;
  onHand: number;
}

export type ProductChanges = Partial<Pick<NewProduct, 'name' | 'description' | 'price' | 'category' | 'images' | 'active'>>;

/**
 * Products, their prices and their stock, in the catalog's own database. Every
 * change writes its event (`catalog.product-changed.v1`, `catalog.stock-changed.v1`)
 * to the outbox in the same transaction.
 */
export class ProductRepository {
  private readonly db: Database;
  private readonly outbox: Outbox;
  constructor(db: Database, outbox: Outbox) {
    this.db = db;
    this.outbox = outbox;
  }

  /** Active products matching a full-text query and/or category, best matches first. */
  async search(search: ProductSearch): Promise<{ items: ProductView[]; total: number }> {
    const where = ['active'];
    const values: unknown[] = [];
    let order = 'name, id';
    if (search.q) {
      values.push(search.q);
      where.push(`search @@ websearch_to_tsquery('english', $${values.length})`);
      order = `ts_rank(search, websearch_to_tsquery('english', $${values.length})) DESC, name, id`;
    }
    if (search.category) {
      values.push(search.category);
      where.push(`category = $${values.length}`);
    }
    if (search.ids) {
      values.push(search.ids);
      where.push(`id = ANY($${values.length}::uuid[])`);
    }
    values.push(search.pageSize, (search.page - 1) * search.pageSize);
    const { rows } = await this.db.query<ProductRow & { total: string }>(
      `SELECT ${columns}, count(*) OVER () AS total FROM products
        WHERE ${where.join(' AND ')}
        ORDER BY ${order}
        LIMIT $${values.length - 1} OFFSET $${values.length}`,
      values,
    );
    let total = rows[0] ? Number(rows[0].total) : 0;
    if (rows.length === 0 && search.page > 1) {
      // Past the last page: still report how many there are.
      const count = await this.db.query<{ total: string }>(`SELECT count(*) AS total FROM products WHERE ${where.join(' AND ')}`, values.slice(0, -2));
      total = Number(count.rows[0]?.total ?? 0);
    }
    return { items: rows.map(toView), total };
  }

  async findById(id: string): Promise<ProductView | undefined> {
    const { rows } = await this.db.query<ProductRow>(`SELECT ${columns} FROM products WHERE id = $1`, [id]);
    return rows[0] && toView(rows[0]);
  }

  async create(product: NewProduct, actor: string): Promise<ProductView> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<ProductRow>(
        `INSERT INTO products (id, sku, name, description, price_amount, price_currency, category, images, active, on_hand)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${columns}`,
        [randomUUID(), product.sku, product.name, product.description, product.price.amount, product.price.currency, product.category, product.images, product.active, product.onHand],
      );
      const created = rows[0]!;
      if (product.onHand > 0) await recordAdjustment(tx, created.id, product.onHand, 'initial stock', actor, created.on_hand);
      await this.productChanged(tx, created, 'created');
      if (product.onHand > 0) await this.stockChanged(tx, created, 'initial stock');
      return toView(created);
    });
  }

  /** Applies `changes` if the product is at `expectedVersion` (when given). */
  async update(id: string, changes: ProductChanges, expectedVersion?: number): Promise<ProductView | 'not-found' | 'version-mismatch'> {
    const sets: string[] = [];
    const values: unknown[] = [id];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (changes.name !== undefined) set('name', changes.name);
    if (changes.description !== undefined) set('description', changes.description);
    if (changes.price !== undefined) {
      set('price_amount', changes.price.amount);
      set('price_currency', changes.price.currency);
    }
    if (changes.category !== undefined) set('category', changes.category);
    if (changes.images !== undefined) set('images', changes.images);
    if (changes.active !== undefined) set('active', changes.active);
    let guard = '';
    if (expectedVersion !== undefined) {
      values.push(expectedVersion);
      guard = ` AND version = $${values.length}`;
    }
    const updated = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<ProductRow>(
        `UPDATE products SET ${[...sets, 'version = version + 1', 'updated_at = now()'].join(', ')}
          WHERE id = $1${guard} RETURNING ${columns}`,
        values,
      );
      if (rows[0]) await this.productChanged(tx, rows[0], 'updated');
      return rows[0];
    });
    if (updated) return toView(updated);
    return (await this.findById(id)) ? 'version-mismatch' : 'not-found';
  }

  /**
   * Adds `delta` (negative to remove) to on-hand stock in one conditional UPDATE:
   * concurrent adjustments serialise on the row and none can take stock below
   * zero or below what is reserved.
   */
  async adjustStock(id: string, delta: number, reason: string, actor: string): Promise<ProductView | 'not-found' | 'insufficient'> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<ProductRow>(
        `UPDATE products SET on_hand = on_hand + $2, version = version + 1, updated_at = now()
          WHERE id = $1 AND on_hand + $2 >= reserved AND on_hand + $2 >= 0
          RETURNING ${columns}`,
        [id, delta],
      );
      const row = rows[0];
      if (!row) {
        const exists = await tx.query('SELECT 1 FROM products WHERE id = $1', [id]);
        return exists.rowCount ? 'insufficient' : 'not-found';
      }
      await recordAdjustment(tx, id, delta, reason, actor, row.on_hand);
      await this.stockChanged(tx, row, reason);
      return toView(row);
    });
  }

  private async productChanged(tx: Queryable, row: ProductRow, change: 'created' | 'updated'): Promise<void> {
    await this.outbox.add(
      tx,
      'catalog.product-changed.v1',
      {
        productId: row.id,
        sku: row.sku,
        name: row.name,
        price: { amount: Number(row.price_amount), currency: row.price_currency },
        category: row.category,
        active: row.active,
        version: row.version,
        change,
      },
      { key: row.id },
    );
  }

  private async stockChanged(tx: Queryable, row: ProductRow, reason: string): Promise<void> {
    await announceStockChange(this.outbox, tx, row, reason);
  }
}

/** The stock of a product after a change, as `catalog.stock-changed.v1` announces it. */
export interface StockRow {
  id: string;
  on_hand: number;
  reserved: number;
  version: number;
}

/** Writes `catalog.stock-changed.v1` for `row` (its state after the change) in `tx`. */
export async function announceStockChange(outbox: Outbox, tx: Queryable, row: StockRow, reason: string): Promise<void> {
  await outbox.add(
    tx,
    'catalog.stock-changed.v1',
    { productId: row.id, onHand: row.on_hand, reserved: row.reserved, available: row.on_hand - row.reserved, version: row.version, reason: reason.slice(0, 200) || 'adjustment' },
    { key: row.id },
  );
}

async function recordAdjustment(tx: Queryable, productId: string, delta: number, reason: string, actor: string, onHand: number): Promise<void> {
  await tx.query('INSERT INTO stock_adjustments (product_id, delta, reason, actor, on_hand) VALUES ($1, $2, $3, $4, $5)', [productId, delta, reason, actor, onHand]);
}
