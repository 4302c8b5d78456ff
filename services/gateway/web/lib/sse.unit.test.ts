import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEvents, readEvents } from './sse.js';

describe('the storefront’s event-stream parser', () => {
  it('dispatches an event at a blank line, with its name, id and data lines joined', () => {
    const { events, rest } = parseEvents('event: order\nid: 3\ndata: {"a":1,\ndata: "b":2}\n\n: keep-alive\n\nevent: order\ndata: par');
    assert.deepEqual(events, [{ event: 'order', id: '3', data: '{"a":1,\n"b":2}' }]);
    assert.equal(rest, 'event: order\ndata: par', 'an event still arriving is kept for the next chunk');
  });

  it('ends lines at CR, LF or CRLF, even a CRLF split between chunks', () => {
    const first = parseEvents('data: one\r\n\r\ndata: two\r');
    assert.deepEqual(first.events.map((e) => e.data), ['one']);
    const second = parseEvents(`${first.rest}\n\r\ndata: three\r\rdata:four\n\n`);
    assert.deepEqual(second.events.map((e) => [e.event, e.data]), [['message', 'two'], ['message', 'three'], ['message', 'four']]);
    assert.equal(second.rest, '');
  });

  it('skips comments and blocks without data, and a field without a colon has an empty value', () => {
    assert.deepEqual(parseEvents(': hello\n\nevent: x\n\ndata\n\n').events, [{ event: 'message', data: '', id: undefined }]);
  });

  it('reads events from a byte stream cut anywhere, multi-byte characters included', async () => {
    const text = 'event: order\ndata: {"name":"Ünïcødé ✓"}\n\nevent: order\ndata: {"status":"CONFIRMED"}\n\n';
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 5) controller.enqueue(bytes.slice(i, i + 5));
        controller.close();
      },
    });
    const seen = [];
    for await (const event of readEvents(body)) seen.push(JSON.parse(event.data));
    assert.deepEqual(seen, [{ name: 'Ünïcødé ✓' }, { status: 'CONFIRMED' }]);
  });
});
