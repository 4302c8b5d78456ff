import type { MessageContract, MessageKind } from './define.ts';
import { Envelope, parseMessageName } from './envelope.ts';
import { messageContracts } from './registry.ts';

/**
 * The AsyncAPI 3.0 description of the system's messages: the contracts of this
 * package joined with who publishes and who consumes each one.
 *
 * The flows are a parameter, not an import: `@bazaar/topology` has no
 * dependencies and this package does not depend on it, so the caller
 * (`scripts/asyncapi.ts`, the contract tests) passes the topology in. Any
 * object of the topology's shape will do.
 */

/** Per service: the messages it writes to its outbox and those it handles. */
export type MessagingServices = Readonly<Record<string, { readonly publishes: readonly string[]; readonly consumes: readonly string[] }>>;

export interface AsyncApiOptions {
  services: MessagingServices;
  /** The document's `info.version`; the repository's version. Default `0.1.0`. */
  version?: string;
  /** Database of the embedded broker. Default `bazaar_broker`. */
  brokerDatabase?: string;
  /** The contracts to describe. Default: the registry (tests pass others). */
  contracts?: Readonly<Record<string, MessageContract>>;
}

/**
 * Partitions per domain on NATS (the NATS adapter's default `partitions`): a
 * message goes to partition FNV-1a(key) mod this.
 */
export const MESSAGE_PARTITIONS = 16;

/**
 * The NATS subject pattern of message `name`, with `{partition}` (and, for
 * commands and replies, `{destination}`: the consumer group addressed) left as
 * AsyncAPI channel parameters.
 */
export function messageAddress(name: string, kind: MessageKind): string {
  if (kind === 'event') return `bazaar.events.${parseMessageName(name).type.split('.')[0]}.{partition}.${name}`;
  return `bazaar.commands.{destination}.{partition}.${name}`;
}

export interface CatalogueEntry {
  name: string;
  kind: MessageKind;
  summary: string;
  key: string;
  publishers: string[];
  consumers: string[];
}

/** Every registered message (sorted by name) with the services that publish and consume it. */
export function messageCatalogue(services: MessagingServices, contracts: Readonly<Record<string, MessageContract>> = messageContracts): CatalogueEntry[] {
  const serviceNames = Object.keys(services).sort();
  return Object.entries(contracts)
    .sort(([a], [b]) => compare(a, b))
    .map(([name, contract]) => ({
      name,
      kind: contract.kind,
      summary: contract.summary,
      key: contract.key,
      publishers: serviceNames.filter((service) => services[service]!.publishes.includes(name)),
      consumers: serviceNames.filter((service) => services[service]!.consumes.includes(name)),
    }));
}

/** Operation ids: `<service>.publish.<message>` (action send) and `<service>.consume.<message>` (action receive). */
export function operationId(service: string, action: 'send' | 'receive', message: string): string {
  return `${service}.${action === 'send' ? 'publish' : 'consume'}.${message}`;
}

/** What each envelope field means (the envelope schema's own comments are not in the schema). */
const envelopeFieldDescriptions: Record<string, string> = {
  id: 'Unique per message (UUID). The broker de-duplicates publishing on it; the consumer\'s inbox records it, so a redelivered message is handled once.',
  type: 'Contract type without version, e.g. `identity.user-registered`.',
  version: 'Contract version: `type` + `.v` + `version` names the contract of `data`.',
  time: 'When the state change the message announces was committed (ISO 8601).',
  key: 'Ordering key: the id of the aggregate the message is about. Messages with the same key are delivered in the order they were written; on NATS it picks the partition.',
  correlationId: 'Id of the request (the gateway\'s x-request-id) or message chain this message belongs to.',
  causationId: 'Id of the message whose handling produced this one; null when an HTTP request produced it.',
  traceparent: 'W3C trace context of the span that wrote the message; the consumer\'s span continues the trace.',
  tracestate: 'W3C trace state accompanying `traceparent`.',
  destination: 'Commands and replies only: the consumer group (service) the message is addressed to.',
  replyTo: 'Commands only: the consumer group (service) that receives the reply.',
  data: 'The payload, defined by the message\'s contract.',
};

/** Envelope properties that have no description here (a new envelope field must be described). */
export function undescribedEnvelopeFields(): string[] {
  return Object.keys(Envelope.properties).filter((field) => !Object.hasOwn(envelopeFieldDescriptions, field));
}

type Json = Record<string, unknown>;

/** A plain JSON copy of a TypeBox schema (drops TypeBox's symbol keys and `$id`). */
function plainSchema(schema: unknown): Json {
  const copy = JSON.parse(JSON.stringify(schema)) as Json;
  delete copy['$id'];
  return copy;
}

/** The complete payload of message `name` on the wire: the envelope with `type`, `version` and `data` pinned to the contract. */
export function messagePayloadSchema(name: string, contract: MessageContract): Json {
  const { type, version } = parseMessageName(name);
  const payload = plainSchema(Envelope);
  const properties = payload['properties'] as Record<string, Json>;
  for (const [field, schema] of Object.entries(properties)) {
    const description = envelopeFieldDescriptions[field];
    if (description) schema['description'] = description;
  }
  properties['type'] = { ...properties['type'], const: type };
  properties['version'] = { ...properties['version'], const: version };
  properties['key'] = { ...properties['key'], description: `${properties['key']!['description'] as string} For this message: \`data.${contract.key}\`.` };
  properties['data'] = { ...plainSchema(contract.schema), description: envelopeFieldDescriptions['data'] };
  return { title: `${name} envelope`, ...payload };
}

const description = [
  'Every message the Bazaar services exchange, as it travels on the broker.',
  '',
  '**Envelope.** Each message is a JSON envelope: `id` (unique, the de-duplication key), `type` and `version` (which name its contract, e.g. `identity.user-registered` + `1` → `identity.user-registered.v1`), `time`, the ordering `key`, `correlationId` and `causationId` (its place in a causal chain), the W3C `traceparent`/`tracestate`, `destination`/`replyTo` for commands and replies, and `data`, the payload its contract defines. Each message below gives the complete envelope with its `data` schema.',
  '',
  '**Ordering key.** `key` is the id of the aggregate the message is about (`x-ordering-key` names the field of `data` it comes from). Messages with the same key reach each consumer group in the order they were written, including across retries; different keys are handled in parallel.',
  '',
  '**Delivery.** A service writes its messages to its transactional outbox in the same database transaction as the state change they announce; a relay publishes what committed. Delivery is at least once: each consumer group (one per consuming service, shared by its replicas) records handled message ids in an inbox in the same transaction as the handler\'s effects, so a redelivery is a no-op. A message that does not match its contract, or keeps failing, goes to the consumer\'s dead-letter queue.',
  '',
  '**Addressing.** Events are broadcast to every consumer group subscribed to them; commands and replies are addressed to one (`destination`). Channel addresses are NATS JetStream subjects; the embedded broker (PostgreSQL) routes by message name and destination instead of subjects, with the same semantics.',
  '',
  '**Versions.** A new version of a message is a new contract (`….v2`) beside the old one; consumers keep handling the old version until no publisher writes it.',
].join('\n');

/** Sorted object from entries, so the document's key order never depends on insertion order. */
function sortedObject<T>(entries: Array<[string, T]>): Record<string, T> {
  return Object.fromEntries(entries.sort(([a], [b]) => compare(a, b)));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds the AsyncAPI 3.0.0 document: one channel per registered message (its
 * NATS subject pattern), one message per contract with the complete envelope as
 * payload, a `send` operation per publishing service and a `receive` operation
 * per consuming service. Throws when a service names a message with no contract.
 */
export function asyncApiDocument(options: AsyncApiOptions): Json {
  const { services, contracts = messageContracts as Readonly<Record<string, MessageContract>> } = options;
  for (const [service, { publishes, consumes }] of Object.entries(services)) {
    for (const name of [...publishes, ...consumes]) {
      if (!Object.hasOwn(contracts, name)) throw new Error(`${service} names message "${name}", which has no contract in packages/contracts/src/messages`);
    }
  }
  const catalogue = messageCatalogue(services, contracts);

  const channels = sortedObject(
    catalogue.map((entry): [string, Json] => {
      const parameters: Record<string, Json> = {};
      if (entry.kind !== 'event') {
        parameters['destination'] = {
          description: 'The consumer group (service) the message is addressed to: the envelope\'s `destination`.',
          enum: entry.consumers,
          ...(entry.consumers.length === 1 ? { default: entry.consumers[0] } : {}),
          location: '$message.payload#/destination',
        };
      }
      parameters['partition'] = {
        description:
          entry.kind === 'event'
            ? `FNV-1a (32-bit) hash of the UTF-8 bytes of the envelope's \`key\`, modulo ${MESSAGE_PARTITIONS} (the NATS adapter's default): one key always maps to one partition, which keeps its messages in order.`
            : `FNV-1a (32-bit) hash of the UTF-8 bytes of \`<domain> <key>\` (the message name's first segment, a space, the envelope's \`key\`), modulo ${MESSAGE_PARTITIONS} (the NATS adapter's default): one participant's commands and replies about one key keep their order; another domain's do not wait for them.`,
        enum: Array.from({ length: MESSAGE_PARTITIONS }, (_, i) => String(i)),
      };
      const addressing =
        entry.kind === 'event'
          ? `Event: every consumer group subscribed to it gets a copy.`
          : `${entry.kind === 'command' ? 'Command' : 'Reply'}: addressed to one consumer group (\`destination\`).`;
      return [
        entry.name,
        {
          address: messageAddress(entry.name, entry.kind),
          title: entry.name,
          summary: entry.summary,
          description: `${addressing} Published by ${list(entry.publishers)}; consumed by ${list(entry.consumers)}. On the embedded broker it is stored under its message name.`,
          messages: { [entry.name]: { $ref: `#/components/messages/${entry.name}` } },
          parameters,
        },
      ];
    }),
  );

  const messages = sortedObject(
    catalogue.map((entry): [string, Json] => [
      entry.name,
      {
        name: entry.name,
        title: entry.name,
        summary: entry.summary,
        description: `${entry.kind[0]!.toUpperCase()}${entry.kind.slice(1)}. Ordering key: \`data.${entry.key}\` (copied to the envelope's \`key\`).`,
        contentType: 'application/json',
        correlationId: { description: 'The request or message chain the message belongs to.', location: '$message.payload#/correlationId' },
        tags: [{ name: entry.kind }, { name: parseMessageName(entry.name).type.split('.')[0]! }],
        'x-message-kind': entry.kind,
        'x-ordering-key': entry.key,
        payload: messagePayloadSchema(entry.name, contracts[entry.name]!),
      },
    ]),
  );

  const operations = sortedObject(
    catalogue.flatMap((entry) =>
      (['send', 'receive'] as const).flatMap((action) =>
        (action === 'send' ? entry.publishers : entry.consumers).map((service): [string, Json] => [
          operationId(service, action, entry.name),
          {
            action,
            channel: { $ref: `#/channels/${entry.name}` },
            messages: [{ $ref: `#/channels/${entry.name}/messages/${entry.name}` }],
            summary:
              action === 'send'
                ? `${service} publishes ${entry.name} (through its transactional outbox).`
                : `${service} handles ${entry.name} (consumer group "${service}", with an inbox).`,
            tags: [{ name: service }],
            'x-service': service,
          },
        ]),
      ),
    ),
  );

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Bazaar messages',
      version: options.version ?? '0.1.0',
      description,
      license: { name: 'MIT' },
    },
    defaultContentType: 'application/json',
    servers: {
      embedded: {
        host: '127.0.0.1:54329',
        pathname: `/${options.brokerDatabase ?? 'bazaar_broker'}`,
        protocol: 'postgres',
        title: 'Embedded broker',
        description: `PostgreSQL database \`${options.brokerDatabase ?? 'bazaar_broker'}\` on the embedded server that \`npm start\` runs (\`BROKER_URL=postgres://…/${options.brokerDatabase ?? 'bazaar_broker'}\`; the port is 54329 unless taken). Messages are rows routed by message name and destination; the channel addresses below are NATS subjects and do not apply to it.`,
      },
      nats: {
        host: '127.0.0.1:4222',
        protocol: 'nats',
        title: 'NATS JetStream',
        description: 'NATS JetStream (`BROKER_URL=nats://127.0.0.1:4222`). Events are published on `bazaar.events.<domain>.<partition>.<message>` (stream `BAZAAR_EVENTS`), commands and replies on `bazaar.commands.<destination>.<partition>.<message>` (stream `BAZAAR_COMMANDS`); `bazaar` is the adapter\'s default subject prefix. Each consumer group reads through durable consumers, one per partition.',
      },
    },
    channels,
    operations,
    components: { messages },
  };
}

function list(services: readonly string[]): string {
  return services.length === 0 ? 'no service' : services.join(', ');
}
