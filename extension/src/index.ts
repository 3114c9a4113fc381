import type { CreateSessionRequest, Session } from '@jupyterlab-interlink/contract';
import { isFinalState } from '@jupyterlab-interlink/contract';
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  showDialog,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { LogView } from './logs';
import { IInterlink } from './model';
import { Notifier } from './notify';
import { SitesPanel } from './panel';
import { kernelNameFor, RemoteBackends } from './remote';
import { IRemoteKernels, servicePlugins } from './services';

export { IInterlink } from './model';
export { IRemoteKernels } from './services';

export const CommandIds = {
  useRemoteKernel: 'interlink:use-remote-kernel',
  openSites: 'interlink:open-sites',
  runOnSite: 'interlink:run-on-site',
  runHere: 'interlink:run-in-notebook',
  runAsJob: 'interlink:run-as-job',
  stopSession: 'interlink:stop-session',
  showLogs: 'interlink:show-logs'
} as const;

export const sitesIcon = new LabIcon({
  name: 'interlink:sites',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M4 3h16a1 1 0 0 1 1 1v4a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1zm1 2v2h2V5H5z' +
    'M4 15h16a1 1 0 0 1 1 1v4a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-4a1 1 0 0 1 1-1zm1 2v2h2v-2H5z"/>' +
    '<path d="M11 9.5h2v2h4v2h-2v1.5h-2V13.5h-2V15H9v-1.5H7v-2h4z"/></g></svg>'
});

const PLUGIN_ID = '@jupyterlab-interlink/extension:plugin';

/** What a batch job can run: notebooks, Python and shell scripts. */
const JOB_FILE = /\.(ipynb|py|sh)$/;

/** Where the agent writes an executed notebook: next to it, as `<name>.output.ipynb`. */
function resultPath(path: string): string | null {
  return path.endsWith('.ipynb') ? path.replace(/\.ipynb$/, '.output.ipynb') : null;
}

const uiPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Remote sites panel, launch form, live sessions, logs, notifications and remote kernels in notebooks.',
  autoStart: true,
  requires: [IInterlink, IRemoteKernels],
  optional: [
    INotebookTracker,
    ITranslator,
    ILayoutRestorer,
    ISettingRegistry,
    ICommandPalette,
    ILauncher,
    IDefaultFileBrowser
  ],
  activate: (
    app: JupyterFrontEnd,
    interlink: IInterlink,
    backends: RemoteBackends,
    notebooks: INotebookTracker | null,
    translator: ITranslator | null,
    restorer: ILayoutRestorer | null,
    settings: ISettingRegistry | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    files: IDefaultFileBrowser | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_interlink');
    const { commands, shell } = app;
    const where = (session: Session) => {
      const site = interlink.site(session.site);
      const profile = site?.profiles.find(p => p.id === session.profile);
      return `${site?.displayName ?? session.site} · ${profile?.displayName ?? session.profile}`;
    };

    /** Resolves when the session's kernel can be used; rejects with its reason if it ends. */
    const whenUsable = (sessionId: string): Promise<void> =>
      new Promise((resolve, reject) => {
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

    const switchKernel = async (panel: NotebookPanel, sessionId: string) => {
      await whenUsable(sessionId);
      await panel.sessionContext.ready;
      const kernel = panel.sessionContext.session?.kernel;
      // Already there: changing to the same name would start a fresh kernel and lose its state.
      if (kernel?.name === kernelNameFor(sessionId) && kernel.status !== 'dead') {
        return;
      }
      await panel.sessionContext.changeKernel({ name: kernelNameFor(sessionId) });
    };

    const useInNotebook = async (session: Session) => {
      const panel = notebooks?.currentWidget;
      if (panel) {
        shell.activateById(panel.id);
        await switchKernel(panel, session.id);
      } else {
        await whenUsable(session.id);
        await commands.execute('notebook:create-new', { kernelName: kernelNameFor(session.id) });
      }
    };

    const notifier = new Notifier({
      interlink,
      trans,
      notebooks,
      useInNotebook,
      openLogs: session => void commands.execute(CommandIds.showLogs, { sessionId: session.id }),
      jobResult: async session => {
        const path = session.path && resultPath(session.path);
        if (!path) {
          return null;
        }
        try {
          await app.serviceManager.contents.get(path, { content: false });
        } catch {
          // not where JupyterLab can see it (a site with files of its own)
          return null;
        }
        return () => void commands.execute('docmanager:open', { path });
      }
    });

    const launch = async (request: CreateSessionRequest) => {
      const session = await interlink.launch(request);
      notifier.follow(session.id);
      return session;
    };

    const stop = async (session: Session) => {
      const result = await showDialog({
        title: trans.__('Stop this session?'),
        body: trans.__(
          'The remote job on %1 is deleted. Variables in its kernel are lost; notebooks stay where they are.',
          where(session)
        ),
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: trans.__('Stop') })]
      });
      if (result.button.accept) {
        await interlink.stop(session.id);
      }
    };

    // The sidebar.
    const panel = new SitesPanel({
      interlink,
      trans,
      actions: {
        launch,
        stop,
        openLogs: session => void commands.execute(CommandIds.showLogs, { sessionId: session.id }),
        useInNotebook,
        canUse: session => !!backends.get(session.id)
      }
    });
    backends.changed.connect(() => panel.update());
    panel.title.icon = sitesIcon;
    panel.title.caption = trans.__('Remote sites');
    shell.add(panel, 'left', { rank: 300 });
    restorer?.add(panel, 'interlink-sites');

    // Logs in the main area.
    const logs = new WidgetTracker<MainAreaWidget<LogView>>({ namespace: 'interlink-logs' });
    commands.addCommand(CommandIds.showLogs, {
      label: trans.__('Show Session Log'),
      describedBy: {
        args: {
          type: 'object',
          properties: { sessionId: { type: 'string' } },
          required: ['sessionId']
        }
      },
      execute: args => {
        const sessionId = String(args.sessionId ?? '');
        const open = logs.find(w => w.content.sessionId === sessionId);
        if (open) {
          shell.activateById(open.id);
          return;
        }
        const session = interlink.session(sessionId);
        const widget = new MainAreaWidget({ content: new LogView(interlink, sessionId, trans) });
        widget.id = `interlink-log-${sessionId}`;
        widget.title.label = trans.__('Log: %1', session ? where(session) : sessionId);
        widget.title.icon = sitesIcon;
        widget.title.closable = true;
        void logs.add(widget);
        shell.add(widget, 'main');
        shell.activateById(widget.id);
      }
    });

    commands.addCommand(CommandIds.stopSession, {
      label: trans.__('Stop Remote Session…'),
      describedBy: {
        args: {
          type: 'object',
          properties: { sessionId: { type: 'string' } },
          required: ['sessionId']
        }
      },
      execute: async args => {
        const session = interlink.session(String(args.sessionId ?? ''));
        if (session) {
          await stop(session);
        }
      }
    });

    commands.addCommand(CommandIds.openSites, {
      label: trans.__('Show Remote Sites'),
      icon: sitesIcon,
      execute: () => shell.activateById(panel.id)
    });

    commands.addCommand(CommandIds.useRemoteKernel, {
      label: args => {
        const session = interlink.session(String(args.sessionId ?? ''));
        return session
          ? trans.__('Use Remote Kernel on %1', where(session))
          : trans.__('Use Remote Kernel');
      },
      describedBy: {
        args: {
          type: 'object',
          properties: {
            sessionId: { type: 'string', description: 'the id of a ready kernel session' }
          },
          required: ['sessionId']
        }
      },
      isEnabled: args => !!backends.get(String(args.sessionId ?? '')),
      execute: async args => {
        const session = interlink.session(String(args.sessionId ?? ''));
        if (!session) {
          throw new Error(trans.__('No session %1.', String(args.sessionId)));
        }
        await useInNotebook(session);
      }
    });

    /** The site's profile named in args, or its first one. */
    const pick = (args: { site?: unknown; profile?: unknown }) => {
      const site = interlink.site(String(args.site ?? ''));
      const profile =
        site?.profiles.find(p => p.id === String(args.profile ?? '')) ?? site?.profiles[0];
      return { site, profile };
    };

    commands.addCommand(CommandIds.runOnSite, {
      label: args => {
        const { site, profile } = pick(args);
        if (!site) {
          return trans.__('Run on Remote Site');
        }
        return args.profile && profile
          ? trans.__('Run on %1 (%2)', site.displayName, profile.displayName)
          : trans.__('Run on %1', site.displayName);
      },
      caption: args => {
        const { site, profile } = pick(args);
        return site && profile
          ? trans.__('Start a remote kernel on %1 with %2', site.displayName, profile.displayName)
          : '';
      },
      icon: sitesIcon,
      describedBy: {
        args: {
          type: 'object',
          properties: { site: { type: 'string' }, profile: { type: 'string' } },
          required: ['site']
        }
      },
      isEnabled: args => !!pick(args).profile,
      execute: async args => {
        const { site, profile } = pick(args);
        if (!site || !profile) {
          return;
        }
        shell.activateById(panel.id);
        await launch({ site: site.id, profile: profile.id, type: 'kernel' });
      }
    });

    /** The site and profile named, or the one the user picks from all sites' profiles. */
    const choose = async (title: string, siteId?: string, profileId?: string) => {
      if (siteId) {
        const { site, profile } = pick({ site: siteId, profile: profileId });
        return site && profile ? { site, profile } : null;
      }
      const options = interlink.sites.flatMap(site =>
        site.profiles.map(profile => ({ site, profile }))
      );
      const labels = options.map(o => `${o.site.displayName} · ${o.profile.displayName}`);
      const result = await InputDialog.getItem({
        title,
        label: trans.__('Site and profile'),
        items: labels
      });
      if (!result.button.accept || result.value === null) {
        return null;
      }
      return options[labels.indexOf(result.value)] ?? null;
    };

    /** Launch, then switch this notebook's kernel when the session is ready. */
    const runHere = async (nb: NotebookPanel, siteId?: string, profileId?: string) => {
      const choice = await choose(trans.__('Run this notebook remotely'), siteId, profileId);
      if (!choice) {
        return;
      }
      const session = await launch({
        site: choice.site.id,
        profile: choice.profile.id,
        type: 'kernel'
      });
      await switchKernel(nb, session.id);
    };

    commands.addCommand(CommandIds.runHere, {
      label: trans.__('Run Notebook on Remote Site…'),
      caption: trans.__("Start a remote session and switch this notebook's kernel to it"),
      icon: sitesIcon,
      isEnabled: () => !!notebooks?.currentWidget,
      execute: async args => {
        const nb = notebooks?.currentWidget;
        if (nb) {
          await runHere(
            nb,
            args.site ? String(args.site) : undefined,
            args.profile ? String(args.profile) : undefined
          );
        }
      }
    });

    /** The file a job command acts on: its argument, the file browser's selection, or the open document. */
    const jobPathOf = (args: { path?: unknown }, fromBrowser: boolean): string | null => {
      if (args.path) {
        return String(args.path);
      }
      if (fromBrowser && files) {
        const item = files.selectedItems().next();
        return item.done ? null : item.value.path;
      }
      const current = shell.currentWidget as { context?: { path: string } } | null;
      return current?.context?.path ?? null;
    };

    /** Runs a notebook or script to completion on a site; what is on disk runs, so save first. */
    const runAsJob = async (path: string, siteId?: string, profileId?: string) => {
      for (const widget of shell.widgets('main')) {
        const context = (
          widget as { context?: { path: string; model: { dirty: boolean }; save(): Promise<void> } }
        ).context;
        if (context?.path === path && context.model.dirty) {
          await context.save();
        }
      }
      const name = path.split('/').pop() ?? path;
      const choice = await choose(trans.__('Run %1 as a job', name), siteId, profileId);
      if (!choice) {
        return;
      }
      shell.activateById(panel.id);
      await launch({
        site: choice.site.id,
        profile: choice.profile.id,
        type: 'job',
        path,
        name
      });
    };

    commands.addCommand(CommandIds.runAsJob, {
      label: args =>
        args.site
          ? trans.__('Run as Job on %1', interlink.site(String(args.site))?.displayName ?? '')
          : trans.__('Run as Job on Remote Site…'),
      caption: trans.__(
        'Run this notebook or script to completion on a remote site; its log and results stay with the session'
      ),
      icon: sitesIcon,
      describedBy: {
        args: {
          type: 'object',
          properties: {
            path: { type: 'string', description: "the notebook or script, from JupyterLab's root" },
            site: { type: 'string' },
            profile: { type: 'string' }
          }
        }
      },
      isEnabled: args => {
        const path = jobPathOf(args, !!args.fromBrowser);
        return !!path && JOB_FILE.test(path) && interlink.sites.length > 0;
      },
      execute: async args => {
        const path = jobPathOf(args, !!args.fromBrowser);
        if (!path) {
          return;
        }
        try {
          await runAsJob(
            path,
            args.site ? String(args.site) : undefined,
            args.profile ? String(args.profile) : undefined
          );
        } catch (err) {
          await showDialog({
            title: trans.__('Job not started'),
            body: (err as Error).message,
            buttons: [Dialog.okButton()]
          });
        }
      }
    });
    for (const type of ['notebook', 'python']) {
      app.contextMenu.addItem({
        command: CommandIds.runAsJob,
        args: { fromBrowser: true },
        selector: `.jp-DirListing-item[data-file-type="${type}"]`,
        rank: 20
      });
    }

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (nb: NotebookPanel): IDisposable => {
        const button = new ToolbarButton({
          icon: sitesIcon,
          label: trans.__('Remote'),
          tooltip: trans.__("Start a remote session and switch this notebook's kernel to it"),
          onClick: () => {
            runHere(nb).catch(err =>
              showDialog({
                title: trans.__('Remote kernel not started'),
                body: (err as Error).message,
                buttons: [Dialog.okButton()]
              })
            );
          }
        });
        button.node.setAttribute('data-testid', 'interlink-notebook-run');
        nb.toolbar.insertItem(10, 'interlinkRun', button);
        return button;
      }
    });

    // "Run on <site>" in the palette and the launcher, following the list of sites.
    palette?.addItem({ command: CommandIds.openSites, category: trans.__('Remote Sites') });
    palette?.addItem({ command: CommandIds.runHere, category: trans.__('Remote Sites') });
    palette?.addItem({ command: CommandIds.runAsJob, category: trans.__('Remote Sites') });
    let siteItems: IDisposable[] = [];
    let siteKey = '';
    const syncSites = () => {
      const key = interlink.sites.map(s => s.id).join(',');
      if (key === siteKey) {
        return;
      }
      siteKey = key;
      siteItems.forEach(d => d.dispose());
      siteItems = [];
      interlink.sites.forEach((site, i) => {
        if (palette) {
          siteItems.push(
            palette.addItem({
              command: CommandIds.runOnSite,
              args: { site: site.id },
              category: trans.__('Remote Sites')
            })
          );
        }
        if (launcher) {
          siteItems.push(
            launcher.add({
              command: CommandIds.runOnSite,
              args: { site: site.id },
              category: trans.__('Remote Sites'),
              rank: i
            })
          );
        }
      });
    };
    interlink.changed.connect(syncSites);
    syncSites();

    if (settings) {
      void settings
        .load(PLUGIN_ID)
        .then(s => {
          const apply = () => {
            notifier.enabled = s.get('notifications').composite !== false;
            notifier.warnBeforeSeconds =
              Number(s.get('walltimeWarningMinutes').composite ?? 15) * 60;
            notifier.saveBeforeEnd = s.get('saveBeforeWalltimeEnds').composite !== false;
          };
          apply();
          s.changed.connect(apply);
        })
        .catch(() => undefined);
    }
  }
};

export default [...servicePlugins, uiPlugin];
