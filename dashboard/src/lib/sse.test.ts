import { describe, expect, it } from 'vitest';
import { readEventStream, type StreamMessage } from './sse';

function body(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(enc.encode(chunk));
      c.close();
    },
  });
}

async function read(chunks: string[]) {
  const out: StreamMessage[] = [];
  await readEventStream(body(chunks), (m) => out.push(m));
  return out;
}

describe('readEventStream', () => {
  it('dispatches named and unnamed events at blank lines, joining data lines', async () => {
    expect(await read(['event: stats\ndata: {"a":1}\n\n', 'data: x\ndata: y\n\n'])).toEqual([
      { event: 'stats', data: '{"a":1}' },
      { event: 'message', data: 'x\ny' },
    ]);
  });

  it('reassembles lines and multi-byte characters split across chunks, and accepts CRLF and CR', async () => {
    const text = 'event: stats\r\ndata: {"name":"zoë"}\r\n\r\ndata:no-space\r\rdata: last\n\n';
    const bytes = new TextEncoder().encode(text);
    // One byte at a time, through a decoder that sees every split.
    const out: StreamMessage[] = [];
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    await readEventStream(stream, (m) => out.push(m));
    expect(out).toEqual([
      { event: 'stats', data: '{"name":"zoë"}' },
      { event: 'message', data: 'no-space' },
      { event: 'message', data: 'last' },
    ]);
  });

  it('skips comments and other fields, and drops an event the stream ends in the middle of', async () => {
    expect(await read([': keep-alive\n\nid: 7\nretry: 100\nevent: stats\ndata: 1\n\n', 'event: stats\ndata: cut'])).toEqual([{ event: 'stats', data: '1' }]);
  });
});
