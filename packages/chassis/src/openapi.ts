import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export interface OpenApiOptions {
  title: string;
  description: string;
  version: string;
  /** Rewrites the served document (the gateway merges in its services' documents). */
  transformSpecification?: (document: Readonly<Record<string, unknown>>) => Record<string, unknown>;
}

/** OpenAPI 3.1 generated from the route schemas, served as JSON at `/docs/json` and as a UI at `/docs`. */
export async function installOpenApi(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: options.title, description: options.description, version: options.version },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  const transform = options.transformSpecification;
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true },
    ...(transform ? { transformSpecification: (document: Readonly<Record<string, unknown>>) => transform(document), transformSpecificationClone: false } : {}),
  });
}
