/**
 * A minimal Jupyter client for tests and benchmarks: creates a kernel over REST and executes code
 * over the kernel's WebSocket (the JSON wire form of the Jupyter messaging protocol).
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export interface ServerAccess {
  /** http://host:port/base/ of a Jupyter server, ending in / */
  baseUrl: string;
  /** Request headers (authorization) for REST and the WebSocket upgrade. */
  headers?: Record<string, string>;
}

export async function startKernel(server: ServerAccess, name = 'python3'): Promise<string> {
  const res = await fetch(new URL('api/kernels', server.baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...server.headers },
    body: JSON.stringify({ name })
  });
  if (res.status !== 201)
    throw new Error(`starting a kernel answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export class KernelChannel {
  private readonly session = randomUUID();
  private constructor(private readonly ws: WebSocket) {
    ws.setMaxListeners(100);
  }

  static open(server: ServerAccess, kernelId: string): Promise<KernelChannel> {
    const url = new URL(`api/kernels/${kernelId}/channels`, server.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, { headers: server.headers, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new KernelChannel(ws)));
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade answered ${res.statusCode}`))
      );
      ws.once('error', reject);
    });
  }

  /** Runs `code`; resolves with its stdout once the kernel reports idle for this request. */
  execute(code: string, timeoutMs = 30_000): Promise<string> {
    const msgId = randomUUID();
    const message = {
      header: {
        msg_id: msgId,
        msg_type: 'execute_request',
        username: 'test',
        session: this.session,
        date: new Date().toISOString(),
        version: '5.3'
      },
      parent_header: {},
      metadata: {},
      content: {
        code,
        silent: false,
        store_history: false,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: true
      },
      channel: 'shell',
      buffers: []
    };
    return new Promise((resolve, reject) => {
      let out = '';
      let error = '';
      const timer = setTimeout(
        () => finish(new Error(`no answer to ${JSON.stringify(code)} within ${timeoutMs} ms`)),
        timeoutMs
      );
      const onMessage = (data: WebSocket.RawData) => {
        const msg = JSON.parse(data.toString());
        if (msg.parent_header?.msg_id !== msgId) return;
        const type = msg.header?.msg_type ?? msg.msg_type;
        if (type === 'stream') out += msg.content.text;
        if (type === 'error') error = `${msg.content.ename}: ${msg.content.evalue}`;
        if (type === 'status' && msg.content.execution_state === 'idle') {
          finish(error ? new Error(error) : null);
        }
      };
      const onClose = () => finish(new Error('kernel WebSocket closed'));
      const finish = (err: Error | null) => {
        clearTimeout(timer);
        this.ws.off('message', onMessage);
        this.ws.off('close', onClose);
        if (err) reject(err);
        else resolve(out);
      };
      this.ws.on('message', onMessage);
      this.ws.on('close', onClose);
      this.ws.send(JSON.stringify(message));
    });
  }

  close(): void {
    this.ws.close();
  }
}
