/**
 * Reading a session's log as it is written (`logs?follow=1`): the one reader behind the log tab
 * and the starting card's tail. Pure: the transport comes in as `open`.
 */

/** How many lines a log asks for on its first connection. */
export const FIRST_TAIL = 2000;

export type LogStatus =
  { kind: 'following' } | { kind: 'failed'; message: string } | { kind: 'ended' };

export interface IFollowLogOptions {
  /** Opens the follow stream, starting `tail` lines back. */
  open(tail: number, signal: AbortSignal): Promise<{ body: ReadableStream<Uint8Array> | null }>;
  signal: AbortSignal;
  onText(text: string): void;
  onStatus?(status: LogStatus): void;
  /** Lines to ask for first (FIRST_TAIL unless told). */
  tail?: number;
  /** Asked when a stream ends or fails: connect again? Never, unless given. */
  reconnect?(): boolean;
  /** Wait before connecting again. */
  retryMs?: number;
}

/** Follows a log until the stream ends for good or `signal` aborts. */
export async function followLog(options: IFollowLogOptions): Promise<void> {
  const { signal } = options;
  let tail = options.tail ?? FIRST_TAIL;
  while (!signal.aborted) {
    options.onStatus?.({ kind: 'following' });
    try {
      const response = await options.open(tail, signal);
      // After a reconnect, ask only for what is new, not the whole log again.
      tail = 0;
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        options.onText(decoder.decode(value, { stream: true }));
      }
    } catch (err) {
      if (signal.aborted) {
        return;
      }
      options.onStatus?.({ kind: 'failed', message: (err as Error).message });
    }
    if (signal.aborted) {
      return;
    }
    if (!options.reconnect?.()) {
      options.onStatus?.({ kind: 'ended' });
      return;
    }
    await new Promise(resolve => setTimeout(resolve, options.retryMs ?? 2000));
  }
}

/** The last `count` non-empty lines of what a log wrote so far, keeping at most `keep` characters. */
export class TailLines {
  constructor(
    readonly count: number,
    readonly keep = 4000
  ) {}

  /** Adds a chunk; returns the lines to show. */
  push(chunk: string): string[] {
    this._text = (this._text + chunk).slice(-this.keep);
    return this._text.split('\n').filter(Boolean).slice(-this.count);
  }

  private _text = '';
}

/** What a growing log keeps: past `max` characters, its newer half. */
export function trimLog(text: string, max: number): string {
  return text.length > max ? text.slice(-max / 2) : text;
}
