import type { Database } from '@bazaar/chassis';

export interface CategoryView {
  slug: string;
  name: string;
  productCount: number;
}

export class CategoryRepository {
  private readonly db: Database;
  constructor(db: Database) {
    this.db = db;
  }

  /** Every category with the number of active products in it. */
  async list(): Promise<CategoryView[]> {
    const { rows } = await this.db.query<{ slug: string; name: string; product_count: number }>(
      `SELECT c.slug, c.name, count(p.id)::int AS product_count
         FROM categories c LEFT JOIN products p ON p.category = c.slug AND p.active
        GROUP BY c.slug, c.name ORDER BY c.name`,
    );
    return rows.map((r) => ({ slug: r.slug, name: r.name, productCount: r.product_count }));
  }

  async exists(slug: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM categories WHERE slug = $1', [slug]);
    return Boolean(rowCount);
  }

  /** Creates the category; false when the slug is taken. */
  async create(slug: string, name: string): Promise<boolean> {
    const { rowCount } = await this.db.query('INSERT INTO categories (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING', [slug, name]);
    return Boolean(rowCount);
  }
}
