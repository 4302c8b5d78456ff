import type { FastifyInstance } from 'fastify';

export type ReadinessCheck = () => Promise<void>;

/** What `/readyz` answers: the verdict and each dependency's result (`ok` or `failing: …`). */
export interface Readiness {
  status: 'ready' | 'not ready' | 'draining';
  checks: Record<string, string>;
}

export interface Health {
  /** Registers a named dependency that must answer for the service to be ready. */
  addCheck(name: string, check: ReadinessCheck): void;
  /** Flips readiness to 503 for good (called at the start of graceful shutdown). */
  startDraining(): void;
  readonly draining: boolean;
  /** Runs every check, as `/readyz` does; what the instance reports in its registry heartbeats. */
  readiness(): Promise<Readiness>;
}

const CHECK_TIMEOUT_MS = 2_000;

/** `/healthz`: the process is alive. `/readyz`: not draining and every dependency answers. */
export function installHealth(app: FastifyInstance): Health {
  const checks = new Map<string, ReadinessCheck>();
  let draining = false;

  const readiness = async (): Promise<Readiness> => {
    const results: Record<string, string> = {};
    await Promise.all(
      [...checks].map(async ([name, check]) => {
        try {
          await withTimeout(check(), CHECK_TIMEOUT_MS);
          results[name] = 'ok';
        } catch (error) {
          results[name] = `failing: ${(error as Error).message}`;
        }
      }),
    );
    const ready = !draining && Object.values(results).every((r) => r === 'ok');
    return { status: draining ? 'draining' : ready ? 'ready' : 'not ready', checks: results };
  };

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const result = await readiness();
    reply.code(result.status === 'ready' ? 200 : 503);
    return result;
  });

  return {
    addCheck: (name, check) => void checks.set(name, check),
    startDraining: () => void (draining = true),
    get draining() {
      return draining;
    },
    readiness,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
