/** WebSocket upgrades as a client sees them, for tests of who gets through. */
import WebSocket from 'ws';

/** Status of a WebSocket upgrade: 101 when accepted, else the HTTP status it was refused with. */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 15_000 });
    ws.once('open', () => {
      ws.close();
      resolveStatus(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolveStatus(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}
