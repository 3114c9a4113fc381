import { isFinalState } from '@jupyterlab-interlink/contract';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { followLog, trimLog, type LogStatus } from '../logstream';
import { IInterlink } from '../model';

/** Keeps the browser responsive on chatty jobs. */
const MAX_CHARS = 2_000_000;

/** A session's log in the main area, following as the job writes it, until the session ends. */
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
    void followLog({
      open: (tail, signal) => this._interlink.api.logs(this.sessionId, signal, tail),
      signal: this._abort.signal,
      onText: text => this._append(text),
      onStatus: status => this._setStatus(status),
      reconnect: () => {
        const session = this._interlink.session(this.sessionId);
        return !!session && !isFinalState(session.state);
      }
    });
  }

  override dispose(): void {
    this._abort.abort();
    super.dispose();
  }

  private _setStatus(status: LogStatus): void {
    const trans = this._trans;
    this._status.textContent =
      status.kind === 'following'
        ? trans.__('Following the log…')
        : status.kind === 'failed'
          ? trans.__('The log is not available: %1', status.message)
          : trans.__('End of log.');
  }

  private _append(text: string): void {
    const node = this.node;
    const atBottom = node.scrollHeight - node.scrollTop - node.clientHeight < 40;
    this._pre.append(document.createTextNode(text));
    const all = this._pre.textContent ?? '';
    if (all.length > MAX_CHARS) {
      this._pre.textContent = trimLog(all, MAX_CHARS);
    }
    if (atBottom) {
      node.scrollTop = node.scrollHeight;
    }
  }

  private _abort = new AbortController();
  private _pre: HTMLPreElement;
  private _status: HTMLDivElement;
}
