/**
 * A small Jupyter client for tests and benchmarks: creates a kernel over REST and executes code
 * over the kernel's channels WebSocket (the JSON protocol every jupyter_server speaks when no
 * subprotocol is requested).
 */
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';

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

/** A kernel's channels on a server reached by base URL; `execute` resolves with stdout, rejects on error. */
export class KernelChannel {
  private constructor(private readonly client: KernelClient) {}

  static async open(server: ServerAccess, kernelId: string): Promise<KernelChannel> {
    const url = new URL(`api/kernels/${kernelId}/channels`, server.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return new KernelChannel(await KernelClient.connect(url.toString(), server.headers));
  }

  async execute(code: string, timeoutMs = 30_000): Promise<string> {
    const result = await this.client.execute(code, timeoutMs);
    if (result.status !== 'ok')
      throw new Error(`${JSON.stringify(code)} ended with status ${result.status}`);
    return result.stdout;
  }

  close(): void {
    this.client.close();
  }
}

interface Message {
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
  channel: string;
}

export interface ExecuteResult {
  stdout: string;
  status: string;
}

export class KernelClient {
  private readonly session = randomUUID();
  private readonly waiting = new Map<
    string,
    { stdout: string; status?: string; idle: boolean; resolve: (r: ExecuteResult) => void }
  >();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) return;
      let msg: Message;
      try {
        msg = JSON.parse(data.toString()) as Message;
      } catch {
        return;
      }
      const pending = this.waiting.get(msg.parent_header?.msg_id ?? '');
      if (!pending) return;
      const type = msg.header.msg_type;
      if (type === 'stream' && msg.content.name === 'stdout')
        pending.stdout += String(msg.content.text);
      if (type === 'execute_reply') pending.status = String(msg.content.status);
      if (type === 'status' && msg.content.execution_state === 'idle') pending.idle = true;
      if (pending.status !== undefined && pending.idle) {
        this.waiting.delete(msg.parent_header.msg_id!);
        pending.resolve({ stdout: pending.stdout, status: pending.status });
      }
    });
  }

  static connect(url: string, headers: Record<string, string> = {}): Promise<KernelClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false });
      ws.once('open', () => resolve(new KernelClient(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`kernel WebSocket refused: HTTP ${res.statusCode}`))
      );
    });
  }

  execute(code: string, timeoutMs = 30_000): Promise<ExecuteResult> {
    const msgId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(msgId);
        reject(new Error('no execute_reply in time'));
      }, timeoutMs);
      this.waiting.set(msgId, {
        stdout: '',
        idle: false,
        resolve: r => {
          clearTimeout(timer);
          resolve(r);
        }
      });
      this.ws.send(
        JSON.stringify({
          header: {
            msg_id: msgId,
            msg_type: 'execute_request',
            username: 'interlink',
            session: this.session,
            version: '5.3',
            date: new Date().toISOString()
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
        })
      );
    });
  }

  close(): void {
    this.ws.close();
  }
}
