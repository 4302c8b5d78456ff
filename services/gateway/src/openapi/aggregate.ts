import type { FastifyBaseLogger } from 'fastify';
import { untraced, type UpstreamClient } from '@bazaar/chassis';

type OpenApiDocument = {
  paths?: Record<string, unknown>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
  tags?: Array<{ name: string }>;
  [key: string]: unknown;
};

const REFRESH_MS = 30_000;

/**
 * The system's OpenAPI document: the gateway's own merged with every routed
 * service's `/docs/json`, fetched in the background and cached, so `/docs` answers
 * at once and shows what it could get when a service is down.
 */
export class OpenApiAggregator {
  private readonly specs = new Map<string, OpenApiDocument>();
  private timer: NodeJS.Timeout | undefined;
  private readonly upstreams: readonly UpstreamClient[];
  private readonly log: FastifyBaseLogger;

  constructor(upstreams: readonly UpstreamClient[], log: FastifyBaseLogger) {
    this.upstreams = upstreams;
    this.log = log;
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Background work nobody asked for: untraced, here and in the services (see `untraced`). */
  async refresh(): Promise<void> {
    await untraced(() =>
      Promise.all(
        this.upstreams.map(async (upstream) => {
          try {
            const response = await upstream.requestJson<OpenApiDocument>({ path: '/docs/json', timeoutMs: 2_000 });
            if (response.status === 200) this.specs.set(upstream.service, response.body);
          } catch (error) {
            this.log.debug({ service: upstream.service, reason: (error as Error).message }, 'openapi document unavailable');
          }
        }),
      ),
    );
  }

  /** The gateway's own document plus every service document fetched so far. */
  merge(own: Readonly<OpenApiDocument>): OpenApiDocument {
    const merged: OpenApiDocument = {
      ...own,
      info: { ...(own['info'] as object), title: 'Bazaar API', description: 'Every Bazaar service behind the gateway. Authenticate with a Bearer access token from POST /api/identity/login.' },
      paths: { ...own.paths },
      components: { ...own.components, schemas: { ...own.components?.schemas } },
      tags: [...(own.tags ?? [])],
    };
    const missing: string[] = [];
    for (const upstream of this.upstreams) {
      const spec = this.specs.get(upstream.service);
      if (!spec) {
        missing.push(upstream.service);
        continue;
      }
      Object.assign(merged.paths!, spec.paths);
      Object.assign(merged.components!.schemas!, spec.components?.schemas);
      for (const tag of spec.tags ?? []) if (!merged.tags!.some((t) => t.name === tag.name)) merged.tags!.push(tag);
    }
    if (missing.length) merged['x-unavailable-services'] = missing;
    return merged;
  }
}
