import type { FastifyInstance } from 'fastify';
import { AppError } from './problem.ts';

/**
 * Two things no Bazaar field has a use for, refused in every request before they can
 * reach a handler or a statement:
 *
 * - **The NUL character.** PostgreSQL cannot store it in text: a string carrying one
 *   fails the statement it reaches ("invalid byte sequence for encoding UTF8: 0x00"),
 *   which would answer 500.
 * - **A number that is not finite.** Ajv's type coercion turns the query string
 *   `?page=1e309` (or `Infinity`) into `Infinity` and then skips `type: integer`,
 *   `minimum` and `maximum` (ajv-validator/ajv#2212, fastify/fastify#6718; unfixed in
 *   Ajv 8.17), so the handler gets a page number PostgreSQL rejects.
 */
export function installNulRefusal(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const parts = { params: request.params, querystring: request.query, body: request.body } as const;
    for (const [part, value] of Object.entries(parts)) {
      const path = pathWhere(value, part, hasNul);
      if (path !== undefined) {
        throw new AppError('VALIDATION_FAILED', `${path} must not contain the NUL character`, { errors: [{ path, message: 'must not contain the NUL character' }] });
      }
    }
  });
}

export const hasNul = (leaf: string | number | boolean): boolean => typeof leaf === 'string' && leaf.includes('\u0000');
export const isNonFinite = (leaf: string | number | boolean): boolean => typeof leaf === 'number' && !Number.isFinite(leaf);

/** A validator as Fastify calls it, with the fields Fastify reads from Ajv's. */
interface Validate {
  (...args: never[]): unknown;
  errors?: unknown;
  schemaEnv?: unknown;
  schema?: unknown;
}

/** `validate`, failing also when the value it leaves (after coercion) holds a number that is not finite. */
export function finiteNumbersOnly<V extends Validate>(validate: V): V {
  const call = validate as unknown as (data: unknown, context?: unknown) => unknown;
  const checked = (data: unknown, context?: unknown) => {
    const valid = call(data, context);
    checked.errors = validate.errors;
    if (valid !== true) return valid;
    const at = pathWhere(data, '', isNonFinite);
    if (at === undefined) return true;
    checked.errors = [{ instancePath: at, schemaPath: '#', keyword: 'type', params: {}, message: 'must be a finite number' }];
    return false;
  };
  checked.errors = validate.errors;
  checked.schemaEnv = validate.schemaEnv;
  checked.schema = validate.schema;
  return checked as unknown as V;
}

/**
 * Where in `value` (a parsed JSON document, a query or path parameters) a leaf or a key
 * matches `test`, if anywhere. Iterative: a body may nest deeper than the call stack goes.
 */
export function pathWhere(value: unknown, path: string, test: (leaf: string | number | boolean) => boolean): string | undefined {
  const pending: Array<[unknown, string]> = [[value, path]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, at] = next;
    if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
      if (test(item)) return at;
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        if (test(key)) return at;
        pending.push([child, `${at}/${key}`]);
      }
    }
  }
  return undefined;
}
