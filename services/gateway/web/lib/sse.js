// @ts-check
/**
 * Server-sent events read from a fetch response (the browser's EventSource
 * cannot send an Authorization header). The parser follows the HTML standard's
 * event-stream rules for the fields Bazaar sends: `event`, `data` (lines
 * joined with "\n"), `id`; comments (`:`) are skipped; CR, LF and CRLF all end
 * a line; an event is dispatched at a blank line.
 */

/** @typedef {{ event: string, data: string, id: string | undefined }} ServerSentEvent */

/**
 * The complete events in `buffer`, and what is left of it (an event still arriving).
 * @param {string} buffer
 * @returns {{ events: ServerSentEvent[], rest: string }}
 */
export function parseEvents(buffer) {
  /** @type {ServerSentEvent[]} */
  const events = [];
  // A CR at the very end may be the first half of a CRLF still arriving.
  const pending = buffer.endsWith('\r') ? '\r' : '';
  const blocks = (pending ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, '\n').split('\n\n');
  const rest = (blocks.pop() ?? '') + pending;
  for (const block of blocks) {
    let event = 'message';
    /** @type {string[]} */
    const data = [];
    /** @type {string | undefined} */
    let id;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (data.length > 0) events.push({ event, data: data.join('\n'), id });
  }
  return { events, rest };
}

/**
 * Each event of a response body as it arrives, until the server ends the stream.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<ServerSentEvent>}
 */
export async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const parsed = parseEvents(buffer + decoder.decode(value, { stream: true }));
      buffer = parsed.rest;
      yield* parsed.events;
    }
  } finally {
    reader.releaseLock();
  }
}
