import { isFinalState } from '@jupyterlab-interlink/contract';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { IInterlink } from './model';

/** Keeps the browser responsive on chatty jobs. */
const MAX_CHARS = 2_000_000;

/** A session's log, following as the job writes it (`logs?follow=1`). */
export class LogView extends Widget {
  constructor(
    private readonly _interlink: IInterlink,
    readonly sessionId: string,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-InterlinkLog');
    this.node.setAttribute('data-testid', `interlink-log-${sessionId}`);
    this.node.tabIndex = 0;
    this._status = document.createElement('div');
    this._status.className = 'jp-InterlinkLog-status';
    this._status.setAttribute('role', 'status');
    this._pre = document.createElement('pre');
    this._pre.className = 'jp-InterlinkLog-text';
    this.node.append(this._status, this._pre);
    void this._follow();
  }

  override dispose(): void {
    this._abort.abort();
    super.dispose();
  }

  private _setStatus(text: string): void {
    this._status.textContent = text;
  }

  private _append(text: string): void {
    const node = this.node;
    const atBottom = node.scrollHeight - node.scrollTop - node.clientHeight < 40;
    this._pre.append(document.createTextNode(text));
    if ((this._pre.textContent?.length ?? 0) > MAX_CHARS) {
      this._pre.textContent = this._pre.textContent!.slice(-MAX_CHARS / 2);
    }
    if (atBottom) {
      node.scrollTop = node.scrollHeight;
    }
  }

  private async _follow(): Promise<void> {
    let first = true;
    while (!this.isDisposed) {
      this._setStatus(this._trans.__('Following the log…'));
      try {
        // After a reconnect, ask only for what is new enough not to repeat the whole log.
        const response = await this._interlink.api.logs(
          this.sessionId,
          this._abort.signal,
          first ? 2000 : 0
        );
        first = false;
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            break;
          }
          this._append(decoder.decode(value, { stream: true }));
        }
      } catch (err) {
        if (this.isDisposed) {
          return;
        }
        this._setStatus(this._trans.__('The log is not available: %1', (err as Error).message));
      }
      const session = this._interlink.session(this.sessionId);
      if (!session || isFinalState(session.state)) {
        this._setStatus(this._trans.__('End of log.'));
        return;
      }
      await new Promise(resolve => setTimeout(resolve, 2000));
    }
  }

  private _abort = new AbortController();
  private _pre: HTMLPreElement;
  private _status: HTMLDivElement;
}
