import { formatWalltime, isFinalState, type Session } from '@jupyterlab-interlink/contract';
import { Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { placeLabel, queueWords, takeoverWords } from './format';
import { kernelNameFor } from './kernelnames';
import { IInterlink, ISessionChange } from './model';
import { dueWarnings, restartsWarning, wantsNotice } from './notices';

export interface INotifierOptions {
  interlink: IInterlink;
  trans: TranslationBundle;
  notebooks: INotebookTracker | null;
  useInNotebook(session: Session): Promise<void>;
  openLogs(session: Session): void;
  /** Opens the result a finished job left where JupyterLab can see it (an executed notebook), if any. */
  jobResult(session: Session): Promise<(() => void) | null>;
}

/**
 * One toast per session that follows it (queued, started, ready, failed), and a warning before
 * its walltime ends that also saves the notebooks using its kernel.
 */
export class Notifier {
  constructor(private readonly _options: INotifierOptions) {
    _options.interlink.sessionChanged.connect(this._onChange, this);
    this._timer = window.setInterval(() => this._checkWalltimes(), 5000);
  }

  enabled = true;
  warnBeforeSeconds = 15 * 60;
  saveBeforeEnd = true;

  /** Sessions launched from this page are followed from their first state. */
  follow(sessionId: string): void {
    this._followed.add(sessionId);
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this._options.interlink.sessionChanged.disconnect(this._onChange, this);
  }

  private _label(session: Session): string {
    return placeLabel(this._options.interlink.site(session.site), session);
  }

  private _onChange(_: unknown, { session, previous }: ISessionChange): void {
    if (restartsWarning(session, previous)) {
      this._warned.delete(session.id);
    }
    this._idleNotice(session, previous);
    const takeovers = session.takeovers ?? [];
    if (this.enabled && takeovers.length > (previous?.takeovers?.length ?? 0)) {
      // Not the session's own toast: a state change must not overwrite this warning.
      Notification.warning(
        takeoverWords(takeovers[takeovers.length - 1], this._label(session), this._options.trans),
        { autoClose: false }
      );
    }
    if (!this.enabled || !wantsNotice(session, previous, this._followed.has(session.id))) {
      return;
    }
    const { trans } = this._options;
    const where = this._label(session);
    const show = (
      type: Notification.TypeOptions,
      message: string,
      options: Notification.IOptions<null> = {}
    ) => {
      // The session's toast now: a later call (a job's result) finds the one shown before it.
      const id = this._toasts.get(session.id);
      // An update keeps earlier actions unless told otherwise.
      options = { actions: [], ...options };
      const closedAt = id ? this._closesAt.get(id) : undefined;
      if (id && closedAt !== undefined && closedAt <= Date.now()) {
        // Its toast closed by itself: an update would change the notification centre only,
        // and a failure hours later must be seen. A fresh toast replaces it.
        Notification.dismiss(id);
      } else if (id && Notification.update({ id, type, message, ...options })) {
        this._remember(id, options.autoClose);
        return;
      }
      const shown = Notification.emit(message, type, options);
      this._toasts.set(session.id, shown);
      this._remember(shown, options.autoClose);
    };
    const logs: Notification.IAction = {
      label: trans.__('Show log'),
      callback: () => this._options.openLogs(session)
    };
    switch (session.state) {
      case 'pending':
        show('in-progress', trans.__('Submitting a session to %1…', where), { autoClose: false });
        break;
      case 'queued':
        show(
          'in-progress',
          session.queue?.reason
            ? trans.__('Queued on %1: %2', where, queueWords(session.queue.reason, trans))
            : trans.__('Queued on %1', where),
          { autoClose: false }
        );
        break;
      case 'starting':
        show('in-progress', trans.__('Started on %1; Jupyter is starting…', where), {
          autoClose: false,
          actions: [logs]
        });
        break;
      case 'ready':
        if (session.type === 'kernel') {
          show('success', trans.__('Remote kernel on %1 is ready', where), {
            autoClose: 8000,
            actions: [
              {
                label: trans.__('Use in notebook'),
                callback: () => void this._options.useInNotebook(session).catch(() => undefined),
                displayType: 'accent'
              }
            ]
          });
        } else {
          show('info', trans.__('Job on %1 is running', where), {
            autoClose: 5000,
            actions: [logs]
          });
        }
        break;
      case 'failed':
        show(
          'error',
          trans.__(
            'Session on %1 failed: %2',
            where,
            session.reason ?? trans.__('no reason given')
          ),
          { autoClose: false, actions: [logs] }
        );
        break;
      case 'expired':
        show(
          'warning',
          trans.__('Session on %1 reached its walltime. %2', where, session.reason ?? ''),
          { autoClose: false, actions: [logs] }
        );
        break;
      case 'completed':
        if (session.type === 'job') {
          const completed = (actions: Notification.IAction[]) =>
            show('success', trans.__('Job %1 on %2 completed', session.name ?? '', where), {
              autoClose: false,
              actions: [...actions, logs]
            });
          completed([]);
          // The executed notebook, once JupyterLab can see it.
          void this._options.jobResult(session).then(open => {
            if (open) {
              completed([
                { label: trans.__('Open result'), callback: open, displayType: 'accent' }
              ]);
            }
          });
        } else {
          show('success', trans.__('Session on %1 completed', where), { autoClose: 5000 });
        }
        break;
      case 'cancelled':
        show('info', trans.__('Session on %1 stopped', where), { autoClose: 4000 });
        break;
      default:
        break;
    }
  }

  /** The idle warning of a kernel session, with "Keep running"; gone once it is not idle. */
  private _idleNotice(session: Session, previous: Session | undefined): void {
    const shown = this._idleToasts.get(session.id);
    if (!session.idle || isFinalState(session.state)) {
      if (shown) {
        Notification.dismiss(shown);
        this._idleToasts.delete(session.id);
      }
      return;
    }
    if (!this.enabled || (shown && previous?.idle?.stopsAt === session.idle.stopsAt)) {
      return;
    }
    const { trans } = this._options;
    const message = trans.__(
      'The kernels of %1 have been idle since %2: the session stops at %3 unless you use it.',
      this._label(session),
      new Date(session.idle.since).toLocaleTimeString(),
      new Date(session.idle.stopsAt).toLocaleTimeString()
    );
    const options: Notification.IOptions<null> = {
      autoClose: false,
      actions: [
        {
          label: trans.__('Keep running'),
          callback: () => void this._options.interlink.keep(session.id).catch(() => undefined),
          displayType: 'accent'
        }
      ]
    };
    if (shown && Notification.update({ id: shown, type: 'warning', message, ...options })) {
      return;
    }
    this._idleToasts.set(session.id, Notification.warning(message, options));
  }

  /** When a toast closes by itself, if it does. */
  private _remember(id: string, autoClose: number | false | undefined): void {
    if (typeof autoClose === 'number') {
      this._closesAt.set(id, Date.now() + autoClose);
    } else {
      this._closesAt.delete(id);
    }
  }

  /** Saves the open notebooks whose kernel runs in this session; returns how many. */
  async saveNotebooksOf(session: Session): Promise<number> {
    const name = kernelNameFor(session.id);
    const saves: Promise<void>[] = [];
    this._options.notebooks?.forEach(panel => {
      if (panel.sessionContext.session?.kernel?.name === name && panel.context.model.dirty) {
        saves.push(panel.context.save());
      } else if (panel.sessionContext.session?.kernel?.name === name) {
        saves.push(Promise.resolve());
      }
    });
    await Promise.allSettled(saves);
    return saves.length;
  }

  private _checkWalltimes(): void {
    const { sessions } = this._options.interlink;
    for (const { session, left } of dueWarnings(
      sessions,
      Date.now(),
      this.warnBeforeSeconds,
      this._warned
    )) {
      this._warned.add(session.id);
      void this._warn(session, left);
    }
  }

  private async _warn(session: Session, left: number): Promise<void> {
    const { trans } = this._options;
    const saved = this.saveBeforeEnd ? await this.saveNotebooksOf(session) : 0;
    const message =
      saved > 0
        ? trans.__(
            'Session on %1 ends in %2. Notebooks using its kernel were saved (%3).',
            this._label(session),
            formatWalltime(left),
            saved
          )
        : trans.__('Session on %1 ends in %2.', this._label(session), formatWalltime(left));
    if (this.enabled || saved > 0) {
      Notification.warning(message, { autoClose: false });
    }
  }

  private _timer: number;
  private _followed = new Set<string>();
  private _toasts = new Map<string, string>();
  private _closesAt = new Map<string, number>();
  private _warned = new Set<string>();
  private _idleToasts = new Map<string, string>();
}
