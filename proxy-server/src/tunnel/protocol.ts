// What the proxy (hub) and the agent agree on. The tunnel is HTTP/2 carried over the byte stream
// of one WebSocket: the proxy is the HTTP/2 client, the agent the HTTP/2 server. Browser HTTP
// requests become ordinary HTTP/2 requests; browser WebSockets become RFC 8441 extended CONNECT
// streams (`:protocol: websocket`) whose bytes are the WebSocket frames, relayed end to end.

/** WebSocket close codes the proxy sends to an agent. 4000-4099: do not reconnect. */
export const CLOSE_SESSION_ENDED = 4000;
/** A newer connection for the same session took over; this agent instance should stop. */
export const CLOSE_REPLACED = 4001;
/** The agent sent something that is not HTTP/2 over binary messages; reconnecting is allowed. */
export const CLOSE_PROTOCOL_ERROR = 4100;

export function isFinalCloseCode(code: number): boolean {
  return code >= 4000 && code < 4100;
}

export const SESSION_HEADER = 'x-interlink-session';

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

/** Session ids come from our own API; anything else is refused before it reaches a log line. */
export function isValidSessionId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id);
}
