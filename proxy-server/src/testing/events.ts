/** Reads a Server-Sent Events stream (the proxy server's {base}/api/events) for tests. */
import type { Session } from '@jupyterlab-interlink/contract';

export interface SseEvent {
  event: string;
  data: unknown;
}

export async function* readEvents(res: Response): AsyncGenerator<SseEvent> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trim());
      }
      if (data.length) yield { event, data: JSON.parse(data.join('\n')) };
    }
  }
}

/** Waits until `predicate` holds for an event, or fails after `timeoutMs` naming what it waited for. */
export async function waitForEvent(
  events: AsyncGenerator<SseEvent>,
  predicate: (e: SseEvent) => boolean,
  what: string,
  timeoutMs = 60_000
): Promise<SseEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs
    );
  });
  try {
    const found = (async () => {
      // next() rather than for-await: leaving a for-await loop would close the stream for later waits
      for (;;) {
        const { value, done } = await events.next();
        if (done) throw new Error(`event stream ended while waiting for ${what}`);
        if (predicate(value)) return value;
      }
    })();
    return await Promise.race([found, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the event saying session `id` reached `state` (the event, its data the session). */
export function waitForState(
  events: AsyncGenerator<SseEvent>,
  id: string,
  state: Session['state'],
  timeoutMs = 60_000
): Promise<SseEvent> {
  return waitForEvent(
    events,
    e =>
      e.event === 'session' && (e.data as Session).id === id && (e.data as Session).state === state,
    `session ${id} to be ${state}`,
    timeoutMs
  );
}
