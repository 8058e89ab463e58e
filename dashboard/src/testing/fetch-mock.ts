import { vi } from 'vitest';

export interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
}

type Handler = (call: Call) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/**
 * Replaces fetch with a router keyed by "METHOD /path" (path as the browser
 * requests it, e.g. "GET /query/v1/stats"). A value that is not a function is
 * answered as 200 JSON. Unknown routes answer 404 so a test sees them.
 */
export function mockFetch(routes: Record<string, Handler | object>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const call: Call = {
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
      body: await request.clone().text(),
    };
    calls.push(call);
    const route = routes[`${call.method} ${call.url.pathname}`];
    if (route === undefined) return json(404, { error: { code: 'not_found', message: `no mock for ${call.method} ${call.url.pathname}` } });
    return typeof route === 'function' ? (route as Handler)(call) : json(200, route);
  });
  vi.stubGlobal('fetch', fn);
  return {
    calls,
    fn,
    to: (method: string, path: string) => calls.filter((c) => c.method === method && c.url.pathname === path),
  };
}
