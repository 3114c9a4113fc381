/** The one way the proxy server answers with JSON: the API, its refusals and the tunnel's errors. */
import type { ServerResponse } from 'node:http';

/** A JSON reply, never cached; on a response already under way, only a cut is left. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text)
  });
  res.end(text);
}
