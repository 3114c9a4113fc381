/**
 * What a user does with remote sessions, from the panel, the commands and the toasts: launch one,
 * stop one, pick a site and profile, run a notebook on a remote kernel or a file as a job.
 */
import { CommandIds } from './commands';
import {
  isFinalState,
  type CreateSessionRequest,
  type Profile,
  type Session,
  type Site
} from '@jupyterlab-interlink/contract';
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IPanelActions } from './components/actions';
import { placeLabel } from './format';
import { jobName } from './jobfiles';
import { kernelNameFor } from './kernelnames';
import { IInterlink } from './model';
import { RemoteBackends } from './remote';

export interface ISessionActionsOptions {
  app: JupyterFrontEnd;
  interlink: IInterlink;
  backends: RemoteBackends;
  notebooks: INotebookTracker | null;
  trans: TranslationBundle;
  /** A session was launched from this page. */
  launched(session: Session): void;
  openLogs(session: Session): void;
  /** Shows the sites panel. */
  showPanel(): void;
}

export interface IPlace {
  site: Site;
  profile: Profile;
}

export class SessionActions implements IPanelActions {
  constructor(private readonly _options: ISessionActionsOptions) {}

  /** "site · profile" of a session, by display names. */
  placeOf(session: Session): string {
    return placeLabel(this._options.interlink.site(session.site), session);
  }

  async launch(request: CreateSessionRequest): Promise<Session> {
    const session = await this._options.interlink.launch(request);
    this._options.launched(session);
    return session;
  }

  async stop(session: Session): Promise<void> {
    const { trans } = this._options;
    const result = await showDialog({
      title: trans.__('Stop this session?'),
      body: trans.__(
        'The remote job on %1 is deleted. Variables in its kernel are lost; notebooks stay where they are.',
        this.placeOf(session)
      ),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: trans.__('Stop') })]
    });
    if (result.button.accept) {
      await this._options.interlink.stop(session.id);
    }
  }

  openLogs(session: Session): void {
    this._options.openLogs(session);
  }

  openFiles(session: Session): void {
    void this._options.app.commands.execute(CommandIds.openFiles, { sessionId: session.id });
  }

  canUse(session: Session): boolean {
    return !!this._options.backends.get(session.id);
  }

  /** The current notebook's kernel moves to the session; with no notebook open, a new one starts on it. */
  async useInNotebook(session: Session): Promise<void> {
    const { app, notebooks } = this._options;
    const panel = notebooks?.currentWidget;
    if (panel) {
      app.shell.activateById(panel.id);
      await this.switchKernel(panel, session.id);
    } else {
      await this._whenUsable(session.id);
      await app.commands.execute('notebook:create-new', { kernelName: kernelNameFor(session.id) });
    }
  }

  async switchKernel(panel: NotebookPanel, sessionId: string): Promise<void> {
    await this._whenUsable(sessionId);
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session?.kernel;
    // Already there: changing to the same name would start a fresh kernel and lose its state.
    if (kernel?.name === kernelNameFor(sessionId) && kernel.status !== 'dead') {
      return;
    }
    await panel.sessionContext.changeKernel({ name: kernelNameFor(sessionId) });
  }

  /** The site's profile named, or its first one. */
  placeNamed(siteId: unknown, profileId?: unknown): Partial<IPlace> {
    const site = this._options.interlink.site(String(siteId ?? ''));
    const profile = site?.profiles.find(p => p.id === String(profileId ?? '')) ?? site?.profiles[0];
    return { site, profile };
  }

  /** The site and profile named, or the one the user picks from all sites' profiles. */
  async choosePlace(title: string, siteId?: string, profileId?: string): Promise<IPlace | null> {
    if (siteId) {
      const { site, profile } = this.placeNamed(siteId, profileId);
      return site && profile ? { site, profile } : null;
    }
    const { interlink, trans } = this._options;
    const places = interlink.sites.flatMap(site =>
      site.profiles.map(profile => ({ site, profile }))
    );
    const labels = places.map(({ site, profile }) =>
      placeLabel(site, { site: site.id, profile: profile.id })
    );
    const result = await InputDialog.getItem({
      title,
      label: trans.__('Site and profile'),
      items: labels
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    return places[labels.indexOf(result.value)] ?? null;
  }

  /** Launch, then switch this notebook's kernel when the session is ready. */
  async runHere(notebook: NotebookPanel, siteId?: string, profileId?: string): Promise<void> {
    const { trans } = this._options;
    const place = await this.choosePlace(trans.__('Run this notebook remotely'), siteId, profileId);
    if (!place) {
      return;
    }
    const session = await this.launch({
      site: place.site.id,
      profile: place.profile.id,
      type: 'kernel'
    });
    await this.switchKernel(notebook, session.id);
  }

  /** Runs a notebook or script to completion on a site; what is on disk runs, so save first. */
  async runAsJob(path: string, siteId?: string, profileId?: string): Promise<void> {
    const { app, trans } = this._options;
    for (const widget of app.shell.widgets('main')) {
      const context = (
        widget as { context?: { path: string; model: { dirty: boolean }; save(): Promise<void> } }
      ).context;
      if (context?.path === path && context.model.dirty) {
        await context.save();
      }
    }
    const name = jobName(path);
    const place = await this.choosePlace(trans.__('Run %1 as a job', name), siteId, profileId);
    if (!place) {
      return;
    }
    this._options.showPanel();
    await this.launch({ site: place.site.id, profile: place.profile.id, type: 'job', path, name });
  }

  /** Resolves when the session's kernel can be used; rejects with its reason if it ends. */
  private _whenUsable(sessionId: string): Promise<void> {
    const { interlink, backends, trans } = this._options;
    return new Promise((resolve, reject) => {
      const check = () => {
        const session = interlink.session(sessionId);
        const backend = backends.get(sessionId);
        if (backend) {
          done();
          void backend.specReady.then(resolve);
        } else if (!session || isFinalState(session.state)) {
          done();
          reject(
            new Error(
              session?.reason ??
                trans.__(
                  'The session ended before its kernel was ready (%1).',
                  session?.state ?? ''
                )
            )
          );
        }
      };
      const done = () => {
        interlink.changed.disconnect(check);
        backends.changed.disconnect(check);
      };
      interlink.changed.connect(check);
      backends.changed.connect(check);
      check();
    });
  }
}
