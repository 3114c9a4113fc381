/**
 * The agent sends its session's secret when it dials: over plain ws:// that secret crosses the
 * network in clear, readable by anyone on the path, who could then take the tunnel over. Plain
 * ws:// is for a proxy server on this very machine only (loopback); anything else needs wss://
 * (a test network's own CA goes in NODE_EXTRA_CA_CERTS).
 */
import { isIP } from 'node:net';

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Why `url` must not be dialled, or null when it may. */
export function tunnelUrlProblem(url: URL): string | null {
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return 'the tunnel URL must start with ws:// or wss://';
  }
  if (url.protocol === 'ws:' && !isLoopbackHost(url.hostname)) {
    return (
      `the tunnel URL is plain ws:// to ${url.hostname}, which would send the session's secret ` +
      'in clear: use wss:// (plain ws:// only reaches a proxy server on this machine, over loopback)'
    );
  }
  return null;
}
