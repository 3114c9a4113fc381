/**
 * One tunnel connection, the same thing at both ends: HTTP/2 directly on the socket (a close
 * reason travels as GOAWAY debug data) or HTTP/2 over a WebSocket's binary messages (a close
 * code). It pings every interval and cuts a connection that showed no sign of life since the last
 * ping; a close the peer does not finish within the grace is cut too.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { goawayData, parseGoawayData } from './protocol.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** How a link ended: the peer's close code and reason if it gave them, else 1006 and what failed. */
export interface LinkEnding {
  code: number;
  reason: string;
  /** what went wrong, when the peer said nothing */
  failure: string;
}

export interface LinkOptions {
  pingIntervalMs: number;
  /** How long a close may take before the connection is cut, ms. */
  closeGraceMs: number;
  /** A ping went unanswered: called just before the connection is cut. */
  onDead?: () => void;
  onEnd?: (ending: LinkEnding) => void;
}

export interface TunnelLink {
  readonly kind: 'raw' | 'websocket';
  readonly open: boolean;
  /** Tell the peer why (a close code from protocol.ts) and close; resolves once it is gone. */
  close(code: number, reason: string): Promise<void>;
  /** Cut the connection without a word, as for a dead peer. */
  terminate(): void;
}

/**
 * Pings every interval; a link that showed no sign of life since the last ping is dead. `alive`
 * is what any sign of life (an answer, the peer's own ping or data) calls.
 */
function heartbeat(
  intervalMs: number,
  ping: (alive: () => void) => void,
  dead: () => void
): { alive: () => void; stop: () => void } {
  let seen = true;
  const alive = (): void => {
    seen = true;
  };
  const timer = setInterval(() => {
    if (!seen) return dead();
    seen = false;
    ping(alive);
  }, intervalMs);
  timer.unref();
  return { alive, stop: () => clearInterval(timer) };
}

/** Waits for `gone` (or the grace), cutting the connection when the grace runs out. */
function closing(
  graceMs: number,
  gone: (resolve: () => void) => void,
  cut: () => void
): Promise<void> {
  return new Promise<void>(resolve => {
    gone(resolve);
    setTimeout(() => {
      cut();
      resolve();
    }, graceMs).unref();
  });
}

/** HTTP/2 directly on the socket; close reasons arrive as GOAWAY debug data. */
export function rawLink(
  socket: Socket,
  session: http2.Http2Session,
  options: LinkOptions
): TunnelLink {
  let told: { code: number; reason: string } | undefined;
  let failure = '';
  session.on('goaway', (_code, _lastStreamId, data?: Buffer) => {
    told ??= parseGoawayData(data);
  });
  socket.on('error', err => (failure ||= err.message));
  const terminate = (): void => void socket.destroy();
  const beat = heartbeat(
    options.pingIntervalMs,
    alive => {
      try {
        session.ping(err => {
          if (!err) alive();
        });
      } catch {
        // The session is closing; 'close' follows.
      }
    },
    () => {
      failure = 'no answer to ping';
      options.onDead?.();
      terminate();
    }
  );
  session.on('ping', beat.alive);
  socket.once('close', () => {
    beat.stop();
    options.onEnd?.({
      code: told?.code ?? 1006,
      reason: told?.reason ?? '',
      failure: told ? '' : failure
    });
  });
  return {
    kind: 'raw',
    get open() {
      return !socket.destroyed && !session.closed;
    },
    close(code, reason) {
      if (socket.destroyed) return Promise.resolve();
      return closing(
        options.closeGraceMs,
        gone => {
          socket.once('close', gone);
          try {
            if (!session.destroyed) session.goaway(NGHTTP2_NO_ERROR, 0, goawayData(code, reason));
          } catch {
            // Nothing can be sent any more; destroying is all that is left.
          }
          // Sends what is queued (the GOAWAY), then ends the socket.
          session.destroy();
        },
        terminate
      );
    },
    terminate
  };
}

/**
 * HTTP/2 over a WebSocket's binary messages; close reasons are the WebSocket's close code.
 * `session` (the HTTP/2 session on it), when given, is ended before the WebSocket closes.
 */
export function webSocketLink(
  ws: WebSocket,
  options: LinkOptions,
  session?: http2.Http2Session
): TunnelLink {
  let failure = '';
  const terminate = (): void => ws.terminate();
  const beat = heartbeat(
    options.pingIntervalMs,
    () => ws.ping(),
    () => {
      failure = 'no answer to ping';
      options.onDead?.();
      terminate();
    }
  );
  ws.on('pong', beat.alive);
  ws.on('ping', beat.alive);
  ws.on('message', beat.alive);
  ws.on('error', err => (failure ||= err.message));
  ws.once('close', (code, reason) => {
    beat.stop();
    options.onEnd?.({ code, reason: reason.toString(), failure });
  });
  return {
    kind: 'websocket',
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    close(code, reason) {
      if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      return closing(
        options.closeGraceMs,
        gone => {
          ws.once('close', gone);
          if (session && !session.destroyed) session.destroy();
          if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)
            ws.close(code, reason);
        },
        terminate
      );
    },
    terminate
  };
}
