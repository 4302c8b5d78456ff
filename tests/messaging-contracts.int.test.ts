/**
 * The message contracts (packages/contracts/src/messages), the topology's
 * `publishes`/`consumes` and the code must agree, and the generated AsyncAPI
 * document and catalogue must be current:
 *
 * - the AsyncAPI document is valid for the real @asyncapi/parser and lists every
 *   contract and every flow of the topology;
 * - docs/asyncapi.json and the table in docs/messaging.md are what
 *   `npm run asyncapi` writes now;
 * - every message the topology names has a contract, and the flows make sense
 *   (an event has one publisher, its owner; a command or reply one consumer…);
 * - each service writes to its outbox exactly the messages it declares, and
 *   handles exactly those it consumes;
 * - `checkMessage` accepts a valid envelope and names what is wrong otherwise.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { DiagnosticSeverity, Parser, type Diagnostic } from '@asyncapi/parser';
import { Type, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { checkMessage, defineMessage, Envelope, messageContracts, parseMessageName, type MessageContract } from '@bazaar/contracts/messages';
import { asyncApiDocument, messageAddress, operationId, undescribedEnvelopeFields } from '@bazaar/contracts/messages/asyncapi';
import { messageFlow, serviceNames, topology, type ServiceName } from '@bazaar/topology';
import { buildAsyncApi, generatedFiles, ROOT } from '../scripts/asyncapi.ts';
import { serviceModule } from './fixtures/service-modules.ts';

const contracts = messageContracts as Readonly<Record<string, MessageContract>>;
const registered = Object.keys(contracts).sort();
const publishes = (service: ServiceName): string[] => [...(topology[service].publishes as readonly string[])];
const consumes = (service: ServiceName): string[] => [...(topology[service].consumes as readonly string[])];
const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort();

/** Parses `document` with the real AsyncAPI parser; fails on any error, reports warnings. */
async function parseAsyncApi(t: TestContext, document: unknown) {
  const { document: parsed, diagnostics } = await new Parser().parse(document as never);
  const describe = (d: Diagnostic) => `${d.code} at ${d.path.join('/') || '(root)'}: ${d.message}`;
  for (const d of diagnostics.filter((x) => x.severity !== DiagnosticSeverity.Error)) t.diagnostic(`asyncapi (severity ${d.severity}) ${describe(d)}`);
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(describe);
  assert.deepEqual(errors, [], 'the AsyncAPI document has errors');
  assert.ok(parsed, 'the parser returned a document');
  return parsed;
}

describe('AsyncAPI document', () => {
  it('is valid AsyncAPI 3.0 and lists every contract and every flow of the topology', async (t) => {
    const document = await buildAsyncApi();
    const parsed = await parseAsyncApi(t, document);
    assert.equal(parsed.version(), '3.0.0');

    assert.deepEqual(sorted(parsed.messages().all().map((m) => m.id())), registered, 'one message per contract');
    assert.deepEqual(sorted(parsed.channels().all().map((c) => c.id())), registered, 'one channel per contract');
    for (const channel of parsed.channels().all()) {
      const name = channel.id();
      assert.equal(channel.address(), messageAddress(name, contracts[name]!.kind), `${name}: channel address`);
      assert.deepEqual(channel.messages().all().map((m) => m.id()), [name], `${name}: channel carries its message`);
    }

    const expected = serviceNames.flatMap((service) => [
      ...publishes(service).map((name) => ({ id: operationId(service, 'send', name), action: 'send', name })),
      ...consumes(service).map((name) => ({ id: operationId(service, 'receive', name), action: 'receive', name })),
    ]);
    const operations = parsed.operations().all();
    assert.deepEqual(sorted(operations.map((o) => o.id()!)), sorted(expected.map((e) => e.id)), 'one operation per flow of the topology');
    for (const { id, action, name } of expected) {
      const operation = operations.find((o) => o.id() === id)!;
      assert.equal(operation.action(), action, `${id}: action`);
      assert.deepEqual(operation.channels().all().map((c) => c.id()), [name], `${id}: channel`);
      assert.deepEqual(operation.messages().all().map((m) => m.id()), [name], `${id}: message`);
    }
  });

  it('gives each message its complete envelope as payload, accepting what checkMessage accepts', async () => {
    const document = (await buildAsyncApi()) as { components: { messages: Record<string, { payload: Record<string, unknown>; 'x-ordering-key': string }> } };
    assert.deepEqual(undescribedEnvelopeFields(), [], 'every envelope field has a description in asyncapi.ts');
    const envelope = sampleEnvelope();
    const payload = Compile(document.components.messages['identity.user-registered.v1']!.payload as TSchema);
    assert.ok(checkMessage(envelope).ok);
    assert.ok(payload.Check(envelope), 'the payload schema accepts a valid envelope');
    assert.ok(!payload.Check({ ...envelope, version: 2 }), 'the payload pins the version');
    assert.ok(!payload.Check({ ...envelope, data: { ...envelope.data, userId: 'nope' } }), 'the payload carries the data schema');
    for (const [name, message] of Object.entries(document.components.messages)) {
      const properties = message.payload['properties'] as Record<string, unknown>;
      assert.deepEqual(Object.keys(properties).sort(), Object.keys(Envelope.properties).sort(), `${name}: payload has the envelope's fields`);
      assert.equal(message['x-ordering-key'], contracts[name]!.key);
    }
  });

  it('describes commands and replies too (addressed to their consumer)', async (t) => {
    const body = Type.Object({ orderId: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
    const synthetic: Record<string, MessageContract> = {
      'orders.place-order.v1': defineMessage({ kind: 'command', summary: 'Place an order.', key: 'orderId', schema: body }),
      'orders.order-placed.v1': defineMessage({ kind: 'reply', summary: 'The order was placed.', key: 'orderId', schema: body }),
      'orders.order-shipped.v1': defineMessage({ kind: 'event', summary: 'The order left.', key: 'orderId', schema: body }),
    };
    const services = {
      checkout: { publishes: ['orders.place-order.v1'], consumes: ['orders.order-placed.v1', 'orders.order-shipped.v1'] },
      orders: { publishes: ['orders.order-placed.v1', 'orders.order-shipped.v1'], consumes: ['orders.place-order.v1'] },
    };
    const document = asyncApiDocument({ services, contracts: synthetic });
    const parsed = await parseAsyncApi(t, document);
    assert.equal(parsed.operations().all().length, 6);
    const command = parsed.channels().get('orders.place-order.v1')!;
    assert.equal(command.address(), 'bazaar.commands.{destination}.{partition}.orders.place-order.v1');
    assert.deepEqual(command.parameters().get('destination')?.schema()?.enum(), ['orders']);
    assert.equal(parsed.channels().get('orders.order-placed.v1')!.parameters().get('destination')?.schema()?.enum()?.[0], 'checkout');
    assert.equal(parsed.channels().get('orders.order-shipped.v1')!.address(), 'bazaar.events.orders.{partition}.orders.order-shipped.v1');
    assert.throws(() => asyncApiDocument({ services: { checkout: { publishes: ['orders.nope.v1'], consumes: [] } }, contracts: synthetic }), /no contract/);
  });

  it('the parser does reject a broken document (the validation above is not vacuous)', async () => {
    const document = (await buildAsyncApi()) as { operations: Record<string, { channel: { $ref: string } }> };
    const first = Object.values(document.operations)[0]!;
    first.channel = { $ref: '#/channels/no-such-channel' };
    const diagnostics = await new Parser().validate(document as never);
    assert.ok(diagnostics.some((d) => d.severity === DiagnosticSeverity.Error));
  });
});

describe('generated docs are up to date', () => {
  it('docs/asyncapi.json and the catalogue in docs/messaging.md are what the generator writes now', async () => {
    for (const [path, expected] of Object.entries(await generatedFiles())) {
      const actual = await readFile(join(ROOT, path), 'utf8').catch(() => '');
      assert.ok(actual === expected, `${path} is stale: run npm run asyncapi`);
    }
  });
});

describe('topology and contracts agree', () => {
  const flows = serviceNames.flatMap((service) => [
    ...publishes(service).map((name) => ({ service, name, as: 'publishes' })),
    ...consumes(service).map((name) => ({ service, name, as: 'consumes' })),
  ]);

  it('every message a service publishes or consumes has a contract, and is listed once', () => {
    const unknown = flows.filter((f) => !Object.hasOwn(contracts, f.name)).map((f) => `${f.service} ${f.as} ${f.name}`);
    assert.deepEqual(unknown, [], 'messages named in the topology without a contract');
    for (const service of serviceNames) {
      assert.equal(sorted(publishes(service)).length, publishes(service).length, `${service}: publishes lists a message twice`);
      assert.equal(sorted(consumes(service)).length, consumes(service).length, `${service}: consumes lists a message twice`);
    }
  });

  it('every contract is well named and its ordering key is a required field of its data', () => {
    for (const [name, contract] of Object.entries(contracts)) {
      const { type, version } = parseMessageName(name);
      assert.match(type, /^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/, `${name}: type is <context>.<name>, lowercase`);
      assert.ok(Number.isInteger(version) && version >= 1, `${name}: version`);
      assert.equal(`${type}.v${version}`, name, `${name}: no leading zeros in the version`);
      const schema = contract.schema as { type?: string; required?: string[] };
      assert.equal(schema.type, 'object', `${name}: data is an object`);
      assert.ok(schema.required?.includes(contract.key), `${name}: key "${contract.key}" is a required field of data`);
    }
  });

  it('an event has exactly one publisher, the service that owns its context', () => {
    for (const [name, contract] of Object.entries(contracts)) {
      if (contract.kind !== 'event') continue;
      const owner = parseMessageName(name).type.split('.')[0]!;
      assert.deepEqual(messageFlow(name).publishers, [owner], `${name}: publishers (an event is published by the service named by its first segment)`);
    }
  });

  it('a command or reply has exactly one consumer and at least one publisher', () => {
    for (const [name, contract] of Object.entries(contracts)) {
      if (contract.kind === 'event') continue;
      const { publishers, consumers } = messageFlow(name);
      assert.equal(consumers.length, 1, `${name} (${contract.kind}): consumers [${consumers.join(', ')}]`);
      assert.ok(publishers.length > 0, `${name} (${contract.kind}): nobody publishes it`);
    }
  });

  it('no service consumes a message it publishes', () => {
    for (const service of serviceNames) {
      const own = consumes(service).filter((name) => publishes(service).includes(name));
      assert.deepEqual(own, [], `${service} consumes messages it publishes itself`);
    }
  });
});

/** Message names passed as string literals to `outbox.add(tx, '<name>', …)` or `outbox.envelope('<name>', …)`. */
function outboxWrites(source: string): string[] {
  const name = String.raw`['"\x60]([a-z][a-z0-9-]*\.[a-z][a-z0-9-]*\.v\d+)['"\x60]`;
  const add = new RegExp(String.raw`\.add\(\s*[^,()]+(?:\([^()]*\))?\s*,\s*${name}`, 'g');
  const envelope = new RegExp(String.raw`\.envelope\(\s*${name}`, 'g');
  return [...source.matchAll(add), ...source.matchAll(envelope)].map((m) => m[1]!);
}

async function serviceSources(service: ServiceName): Promise<string[]> {
  const dir = join(ROOT, 'services', service, 'src');
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => !relative(dir, file).split(sep).includes('testing'));
}

/**
 * A stand-in context for building handlers: every property, call and `new` gives
 * it back, so a `messageHandlers` that captures (or even reads through) its
 * context builds without a database or broker. Handlers are never invoked.
 */
function inertContext(): never {
  const inert: object = new Proxy(function () {}, {
    get: (_target, property) => (property === 'then' ? undefined : property === Symbol.toPrimitive ? () => '' : inert),
    apply: () => inert,
    construct: () => inert,
  });
  return inert as never;
}

interface HandlingModule {
  name: string;
  messageHandlers?: (context: never) => Record<string, unknown>;
}

async function loadModule(service: ServiceName): Promise<HandlingModule> {
  return (await serviceModule(service)) as unknown as HandlingModule;
}

describe('topology and code agree on messages', () => {
  it('the outbox-write scanner finds literal message names, across lines', () => {
    const source = `await outbox.add(tx, 'a.b-c.v1', {});\nawait this.outbox.add(\n  tx,\n  "a.d.v2",\n  { x: 1 },\n);\nset.add('a.e.v1'); outbox.envelope('a.f.v3', data, { key });`;
    assert.deepEqual(outboxWrites(source).sort(), ['a.b-c.v1', 'a.d.v2', 'a.f.v3']);
  });

  it("each service writes to its outbox exactly the messages its topology entry publishes", async () => {
    const problems: string[] = [];
    for (const service of serviceNames) {
      const written = new Map<string, string[]>();
      for (const file of await serviceSources(service)) {
        for (const name of outboxWrites(await readFile(file, 'utf8'))) written.set(name, [...(written.get(name) ?? []), relative(ROOT, file)]);
      }
      for (const name of publishes(service)) if (!written.has(name)) problems.push(`${service} declares it publishes ${name} but no outbox.add(tx, '${name}', …) was found in services/${service}/src`);
      for (const [name, files] of written) if (!publishes(service).includes(name)) problems.push(`${service} writes ${name} (${files.join(', ')}) but its topology entry does not publish it`);
    }
    assert.deepEqual(problems, []);
  });

  it('each service handles exactly the messages its topology entry consumes', async () => {
    for (const service of serviceNames) {
      const module = await loadModule(service);
      const handlers = module.messageHandlers?.(inertContext()) ?? {};
      assert.deepEqual(Object.keys(handlers).sort(), sorted(consumes(service)), `${service}: messageHandlers vs topology consumes`);
    }
  });
});

function sampleEnvelope() {
  return {
    id: randomUUID(),
    type: 'identity.user-registered',
    version: 1,
    time: new Date().toISOString(),
    key: 'user-1',
    correlationId: randomUUID(),
    causationId: null,
    data: { userId: randomUUID(), email: 'ada@example.com', name: 'Ada', registeredAt: new Date().toISOString() },
  };
}

describe('checkMessage', () => {
  it('accepts a valid envelope and names its contract', () => {
    const checked = checkMessage({ ...sampleEnvelope(), traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    assert.ok(checked.ok, JSON.stringify(checked));
    assert.equal(checked.name, 'identity.user-registered.v1');
  });

  it('rejects a payload that breaks its contract, naming the path', () => {
    const envelope = sampleEnvelope();
    const checked = checkMessage({ ...envelope, data: { ...envelope.data, userId: 'not-a-uuid' } });
    assert.equal(checked.ok, false);
    assert.equal(checked.name, 'identity.user-registered.v1');
    assert.ok(!checked.ok && checked.errors.some((e) => e.startsWith('data/userId')), JSON.stringify(checked));
  });

  it('rejects extra properties, in the envelope and in data', () => {
    const envelope = sampleEnvelope();
    const extraEnvelope = checkMessage({ ...envelope, priority: 'high' });
    assert.ok(!extraEnvelope.ok && extraEnvelope.errors.some((e) => e.startsWith('envelope')), JSON.stringify(extraEnvelope));
    const extraData = checkMessage({ ...envelope, data: { ...envelope.data, admin: true } });
    assert.ok(!extraData.ok && extraData.errors.some((e) => e.startsWith('data')), JSON.stringify(extraData));
  });

  it('rejects a message with no contract', () => {
    const checked = checkMessage({ ...sampleEnvelope(), type: 'identity.user-deleted', version: 9 });
    assert.ok(!checked.ok && checked.errors.some((e) => e.includes('unknown message "identity.user-deleted.v9"')), JSON.stringify(checked));
  });

  it('rejects what is not an envelope', () => {
    for (const value of [null, 'text', 42, [], {}]) {
      const checked = checkMessage(value);
      assert.ok(!checked.ok && checked.errors.length > 0 && checked.errors.every((e) => e.startsWith('envelope')), `${JSON.stringify(value)}: ${JSON.stringify(checked)}`);
    }
  });
});
