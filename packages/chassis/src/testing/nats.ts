/** The NATS server (with JetStream) tests run against: `TEST_NATS_URL`, by default the local one. */
export function testNatsUrl(): string {
  return process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
}

/**
 * Runs `probe` on a client of the test NATS server and, when it fails, closes the
 * client and fails with how to get one. NATS tests are not skipped when the
 * server is missing: CI provides it, and a silently skipped adapter would pass
 * for working.
 */
export async function requireNats(client: { close(): Promise<void> }, probe: () => Promise<unknown>, url = testNatsUrl()): Promise<void> {
  try {
    await probe();
  } catch (error) {
    await client.close().catch(() => {});
    throw new Error(
      `NATS with JetStream is not reachable at ${url} (${(error as Error).message}). ` +
        'Start one (nats-server -js) or point TEST_NATS_URL at one; these tests are not skipped without it.',
      { cause: error },
    );
  }
}
