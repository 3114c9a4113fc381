import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

// HPC centres route outbound traffic through HTTP proxies. This is the small part of that the
// agent needs: pick the proxy from the usual environment variables and open a CONNECT tunnel.

export interface ProxyEnv {
  HTTPS_PROXY?: string;
  https_proxy?: string;
  HTTP_PROXY?: string;
  http_proxy?: string;
  NO_PROXY?: string;
  no_proxy?: string;
  [name: string]: string | undefined;
}

/** The proxy URL to use for `target` (a ws:// or wss:// URL), or undefined to dial directly. */
export function proxyFor(target: URL, env: ProxyEnv = process.env): URL | undefined {
  const secure = target.protocol === 'wss:' || target.protocol === 'https:';
  const raw = secure
    ? (env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy)
    : (env.HTTP_PROXY ?? env.http_proxy);
  if (!raw) return undefined;
  const port = Number(target.port) || (secure ? 443 : 80);
  if (bypassed(target.hostname, port, env.NO_PROXY ?? env.no_proxy ?? '')) return undefined;
  try {
    return new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new Error('the proxy variable (HTTPS_PROXY/HTTP_PROXY) is not a valid URL');
  }
}

/** curl's NO_PROXY rules: `*`, host names matching as suffixes (leading dot optional), ports. */
export function bypassed(hostname: string, port: number, noProxy: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  for (let entry of noProxy.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    let entryPort: number | undefined;
    const m = /^(.*):(\d+)$/.exec(entry);
    if (m && !m[1].includes(':')) {
      entry = m[1];
      entryPort = Number(m[2]);
    } else if (/^\[.*\]:\d+$/.test(entry)) {
      const idx = entry.lastIndexOf(':');
      entryPort = Number(entry.slice(idx + 1));
      entry = entry.slice(0, idx);
    }
    entry = entry.replace(/^\[|\]$/g, '');
    if (entryPort !== undefined && entryPort !== port) continue;
    if (entry.startsWith('*.')) entry = entry.slice(1);
    if (net.isIP(entry)) {
      if (entry === host) return true;
      continue;
    }
    if (entry.startsWith('.')) {
      if (host.endsWith(entry) || host === entry.slice(1)) return true;
    } else if (host === entry || host.endsWith(`.${entry}`)) {
      return true;
    }
  }
  return false;
}

/**
 * Open a TCP (and for wss, TLS) connection to `target` through an HTTP CONNECT proxy. Resolves
 * with a socket ready for the WebSocket handshake.
 */
export function connectThroughProxy(
  proxy: URL,
  target: URL,
  options: { timeoutMs?: number; ca?: string | Buffer } = {}
): Promise<net.Socket> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const secure = target.protocol === 'wss:' || target.protocol === 'https:';
  const port = Number(target.port) || (secure ? 443 : 80);
  const hostname = target.hostname.replace(/^\[|\]$/g, '');
  const authority = net.isIPv6(hostname) ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  const headers: Record<string, string> = { Host: authority };
  if (proxy.username || proxy.password) {
    const user = decodeURIComponent(proxy.username);
    const pass = decodeURIComponent(proxy.password);
    headers['Proxy-Authorization'] = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  const proxySecure = proxy.protocol === 'https:';
  const proxyPort = Number(proxy.port) || (proxySecure ? 443 : 80);
  return new Promise((resolve, reject) => {
    const req = http.request({
      method: 'CONNECT',
      path: authority,
      headers,
      timeout: timeoutMs,
      createConnection: () =>
        proxySecure
          ? tls.connect({ host: proxy.hostname, port: proxyPort, servername: proxy.hostname })
          : net.connect({ host: proxy.hostname.replace(/^\[|\]$/g, ''), port: proxyPort })
    });
    req.once('timeout', () => req.destroy(new Error('the proxy did not answer in time')));
    req.once('error', err => reject(new Error(`proxy connection failed: ${err.message}`)));
    req.once('response', res => {
      res.resume();
      req.destroy();
      reject(new Error(`the proxy refused the tunnel (HTTP ${res.statusCode})`));
    });
    req.once('connect', (res, socket: net.Socket, head: Buffer) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`the proxy refused the tunnel (HTTP ${res.statusCode})`));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      if (!secure) {
        resolve(socket);
        return;
      }
      const secured = tls.connect({
        socket,
        // `host` is what the certificate is checked against; without it node takes the name
        // the socket was opened to: the proxy's. SNI carries names only, never an IP.
        host: hostname,
        servername: net.isIP(hostname) ? undefined : hostname,
        ALPNProtocols: ['http/1.1'],
        ...(options.ca ? { ca: options.ca } : {})
      });
      secured.once('secureConnect', () => resolve(secured));
      secured.once('error', err =>
        reject(new Error(`TLS through the proxy failed: ${err.message}`))
      );
    });
    req.end();
  });
}
