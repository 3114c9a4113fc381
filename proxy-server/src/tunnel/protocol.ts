// What the proxy (tunnel endpoint) and the agent agree on. The tunnel is HTTP/2 between the proxy (client) and
// the agent (server). Browser HTTP requests become ordinary HTTP/2 requests; browser WebSockets
// become RFC 8441 extended CONNECT streams (`:protocol: websocket`) whose bytes are the WebSocket
// frames, relayed end to end.
//
// The agent opens the tunnel with an authenticated HTTP/1.1 Upgrade to {base}/tunnel. It asks first
// for TUNNEL_UPGRADE: after the 101 both sides run HTTP/2 directly on the TCP (or TLS) connection,
// which node:http2 drives natively. Where that upgrade is declined (an older proxy, or a middlebox
// such as configurable-http-proxy that passes only WebSocket upgrades) the agent upgrades to a
// WebSocket instead and HTTP/2 runs over its binary messages.

/** The Upgrade token for HTTP/2 directly on the upgraded connection. */
export const TUNNEL_UPGRADE = 'interlink-h2';

/**
 * Close codes the proxy sends to an agent: as the WebSocket close code, or on a raw HTTP/2 tunnel
 * as the debug data of a GOAWAY frame (see goawayData). 4000-4099: do not reconnect.
 */
export const CLOSE_SESSION_ENDED = 4000;
/** A newer connection for the same session took over; this agent instance should stop. */
export const CLOSE_REPLACED = 4001;
/** The agent sent something that is not HTTP/2 over binary messages; reconnecting is allowed. */
export const CLOSE_PROTOCOL_ERROR = 4100;

export function isFinalCloseCode(code: number): boolean {
  return code >= 4000 && code < 4100;
}

/** GOAWAY debug data carrying a close code and its reason, e.g. "4001 replaced". */
export function goawayData(code: number, reason: string): Buffer {
  return Buffer.from(`${code} ${reason}`.slice(0, 120));
}

/** The close code and reason in GOAWAY debug data, if it holds one. */
export function parseGoawayData(
  data: Buffer | undefined
): { code: number; reason: string } | undefined {
  const m = /^(\d{4}) ?([\x20-\x7e]*)$/.exec(data?.toString('latin1') ?? '');
  return m ? { code: Number(m[1]), reason: m[2] } : undefined;
}

export const SESSION_HEADER = 'x-interlink-session';

/**
 * The agent's own route, answered by the agent (NodeUsage), never forwarded: outside every
 * session's base URL, so no browser request through the proxy can ask it.
 */
export const USAGE_PATH = '/.interlink/usage';

/**
 * The agent's write route (`{this}<path>?offset=N`, see contract/src/files-write.ts), outside every
 * session's base URL like USAGE_PATH: the proxy server sends `{session url}files-write/…` here
 * once it has checked that the caller owns the session.
 */
export const FILES_WRITE_PATH = '/.interlink/files-write/';

/** Which agent dials: `<pid>@<host name>`, as the job sees itself; shown to the session's owner. */
export const AGENT_HEADER = 'x-interlink-agent';

export function agentHeaderValue(pid: number, host: string): string {
  return `${pid}@${host}`;
}

/** The agent's own words about itself, when they are of the expected shape (bounded, printable). */
export function parseAgentHeader(
  value: string | undefined
): { pid: number; host: string } | undefined {
  const m = /^(\d{1,10})@([A-Za-z0-9][A-Za-z0-9.\-_]{0,252})$/.exec(value ?? '');
  return m ? { pid: Number(m[1]), host: m[2] } : undefined;
}

/** Time for the tunnel handshake, from the upgrade request to the peer's HTTP/2 SETTINGS; both sides give up after it. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;

/** Largest WebSocket message either side accepts. Writers batch to at most BATCH_BYTES. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const BATCH_BYTES = 256 * 1024;
/** HTTP/2 flow-control windows: large enough for a WAN link, small enough to bound memory. */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/** nghttp2's per-session memory budget, in MB (node's unit). */
export const MAX_SESSION_MEMORY_MB = 32;
export const DEFAULT_PING_INTERVAL_MS = 15_000;
