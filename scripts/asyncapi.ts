/**
 * `npm run asyncapi`: writes the AsyncAPI document of the system's messages to
 * docs/asyncapi.json and the message catalogue table into docs/messaging.md
 * (between its `<!-- messages:start -->` / `<!-- messages:end -->` markers), both
 * from the contracts (`@bazaar/contracts/messages`) and the topology
 * (`@bazaar/topology`). tests/messaging-contracts.int.test.ts fails when either
 * file differs from what this script would write.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { asyncApiDocument, messageCatalogue } from '@bazaar/contracts/messages/asyncapi';
import { BROKER_DATABASE, topology } from '@bazaar/topology';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const ASYNCAPI_PATH = 'docs/asyncapi.json';
export const MESSAGING_DOC_PATH = 'docs/messaging.md';
export const CATALOGUE_START = '<!-- messages:start -->';
export const CATALOGUE_END = '<!-- messages:end -->';

async function rootVersion(): Promise<string> {
  const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? '0.1.0';
}

/** The AsyncAPI document of the current contracts and topology. */
export async function buildAsyncApi(): Promise<Record<string, unknown>> {
  return asyncApiDocument({ services: topology, version: await rootVersion(), brokerDatabase: BROKER_DATABASE });
}

/** The text of docs/asyncapi.json: pretty-printed (the generator sorts channels, operations and messages by name). */
export function asyncApiText(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The message catalogue as a Markdown table. */
export function catalogueTable(): string {
  const rows = messageCatalogue(topology).map(
    (m) => `| \`${m.name}\` | ${m.kind} | \`${m.key}\` | ${m.publishers.join(', ') || '—'} | ${m.consumers.join(', ') || '—'} | ${cell(m.summary)} |`,
  );
  return ['| Message | Kind | Key | Publisher(s) | Consumer(s) | Summary |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** `markdown` with the text between the catalogue markers replaced by the current table. */
export function withCatalogue(markdown: string): string {
  const start = markdown.indexOf(CATALOGUE_START);
  const end = markdown.indexOf(CATALOGUE_END);
  if (start < 0 || end < start) throw new Error(`${MESSAGING_DOC_PATH} lacks the markers ${CATALOGUE_START} … ${CATALOGUE_END}`);
  return `${markdown.slice(0, start + CATALOGUE_START.length)}\n${catalogueTable()}\n${markdown.slice(end)}`;
}

/** What the script writes, by path relative to the repository root. */
export async function generatedFiles(): Promise<Record<string, string>> {
  const messagingDoc = await readFile(new URL(`../${MESSAGING_DOC_PATH}`, import.meta.url), 'utf8');
  return {
    [ASYNCAPI_PATH]: asyncApiText(await buildAsyncApi()),
    [MESSAGING_DOC_PATH]: withCatalogue(messagingDoc),
  };
}

if (import.meta.main) {
  for (const [path, text] of Object.entries(await generatedFiles())) {
    await writeFile(new URL(`../${path}`, import.meta.url), text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
