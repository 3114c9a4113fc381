import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { BATCH_BYTES, CLOSE_PROTOCOL_ERROR } from './protocol.js';

/**
 * The WebSocket's payload as a byte stream, for HTTP/2 to run over. Unlike ws's own
 * createWebSocketStream it batches writes: HTTP/2 writes many small buffers (a 9-byte frame header
 * per DATA frame), and one WebSocket message per buffer would cost a frame header, a mask and a
 * callback each. Reading pauses the socket when HTTP/2 is not consuming, so nothing piles up here.
 */
export function webSocketDuplex(ws: WebSocket): Duplex {
  const sendBatch = (chunks: Buffer[], callback: (err?: Error | null) => void): void => {
    const messages: Buffer[] = [];
    let pending: Buffer[] = [];
    let size = 0;
    for (const chunk of chunks) {
      if (size > 0 && size + chunk.length > BATCH_BYTES) {
        messages.push(pending.length === 1 ? pending[0] : Buffer.concat(pending, size));
        pending = [];
        size = 0;
      }
      pending.push(chunk);
      size += chunk.length;
    }
    if (size > 0) messages.push(pending.length === 1 ? pending[0] : Buffer.concat(pending, size));
    if (messages.length === 0) {
      callback();
      return;
    }
    let left = messages.length;
    let failed = false;
    for (const message of messages) {
      ws.send(message, { binary: true }, err => {
        if (failed) return;
        if (err) {
          failed = true;
          callback(err);
        } else if (--left === 0) {
          callback();
        }
      });
    }
  };

  const duplex = new Duplex({
    allowHalfOpen: false,
    // Room for a few messages before the socket is paused, to avoid pausing after each one.
    readableHighWaterMark: 1024 * 1024,
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      sendBatch([chunk], callback);
    },
    writev(chunks, callback) {
      sendBatch(
        chunks.map(c => c.chunk as Buffer),
        callback
      );
    },
    final(callback) {
      if (ws.readyState === ws.OPEN) ws.close(1000);
      callback();
    },
    destroy(err, callback) {
      if (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN) {
        if (err) ws.terminate();
        else ws.close(1000);
      }
      callback(err);
    }
  });

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (duplex.destroyed) return;
    if (!isBinary) {
      ws.close(CLOSE_PROTOCOL_ERROR, 'binary messages only');
      duplex.destroy(new Error('text message on the tunnel'));
      return;
    }
    if (!duplex.push(data)) ws.pause();
  });
  ws.on('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
    duplex.destroy();
  });
  ws.on('error', err => {
    if (!duplex.destroyed) duplex.destroy(err);
  });
  return duplex;
}
