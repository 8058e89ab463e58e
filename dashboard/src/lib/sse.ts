// Reads a text/event-stream body (the HTML standard's event-stream format):
// what EventSource does, over fetch, so the request can carry the API key
// in a header. Only `event` and `data` fields matter here; `id` and `retry`
// are ignored (the caller decides when to reconnect).

export interface StreamMessage {
  /** The event's type; "message" when the server named none. */
  event: string;
  data: string;
}

/** Calls onMessage for each event of body; resolves when the body ends. */
export async function readEventStream(body: ReadableStream<Uint8Array>, onMessage: (m: StreamMessage) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];

  const line = (text: string) => {
    if (text === '') {
      if (data.length) onMessage({ event: event || 'message', data: data.join('\n') });
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return; // a comment (keep-alive)
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  };

  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value, { stream: !done });
      // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
      let at: number;
      while ((at = buffer.search(/\r\n|\n|\r(?=[^\n])/)) >= 0) {
        line(buffer.slice(0, at));
        buffer = buffer.slice(at + (buffer.startsWith('\r\n', at) ? 2 : 1));
      }
      if (done) return; // an event without its closing blank line is dropped, as EventSource does
    }
  } finally {
    reader.releaseLock();
  }
}
