/**
 * The extension's commands, each declared once with its id, and where they show: palette,
 * launcher, the file browser's context menu and the notebook toolbar.
 */
import type { Session } from '@jupyterlab-interlink/contract';
import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  showDialog,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { sitesIcon } from './icons';
import { isJobFile } from './jobfiles';
import { LogView } from './mainviews/LogView';
import { IInterlink } from './model';
import { RemoteBackends } from './remote';
import { SessionActions } from './sessionactions';

export const CommandIds = {
  useRemoteKernel: 'interlink:use-remote-kernel',
  openSites: 'interlink:open-sites',
  runOnSite: 'interlink:run-on-site',
  runHere: 'interlink:run-in-notebook',
  runAsJob: 'interlink:run-as-job',
  stopSession: 'interlink:stop-session',
  showLogs: 'interlink:show-logs',
  openFiles: 'interlink:open-files',
  copyToRemote: 'interlink:copy-to-remote',
  copyToLocal: 'interlink:copy-to-local',
  openWebApp: 'interlink:open-web-app'
} as const;

export interface ICommandsOptions {
  app: JupyterFrontEnd;
  interlink: IInterlink;
  backends: RemoteBackends;
  actions: SessionActions;
  trans: TranslationBundle;
  /** The id of the sites panel, to show it. */
  panelId: string;
  notebooks: INotebookTracker | null;
  palette: ICommandPalette | null;
  launcher: ILauncher | null;
  files: IDefaultFileBrowser | null;
}

const sessionArgs = {
  type: 'object',
  properties: { sessionId: { type: 'string' } },
  required: ['sessionId']
};

/** An optional string argument. */
function optional(value: unknown): string | undefined {
  return value ? String(value) : undefined;
}

export function registerCommands(options: ICommandsOptions): void {
  const { app, interlink, backends, actions, trans, notebooks, files } = options;
  const { commands, shell } = app;
  const sessionOf = (args: { sessionId?: unknown }): Session | undefined =>
    interlink.session(String(args.sessionId ?? ''));

  const logs = new WidgetTracker<MainAreaWidget<LogView>>({ namespace: 'interlink-logs' });
  commands.addCommand(CommandIds.showLogs, {
    label: trans.__('Show Session Log'),
    describedBy: { args: sessionArgs },
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
      widget.title.label = trans.__('Log: %1', session ? actions.placeOf(session) : sessionId);
      widget.title.icon = sitesIcon;
      widget.title.closable = true;
      void logs.add(widget);
      shell.add(widget, 'main');
      shell.activateById(widget.id);
    }
  });

  commands.addCommand(CommandIds.stopSession, {
    label: trans.__('Stop Remote Session…'),
    describedBy: { args: sessionArgs },
    execute: async args => {
      const session = sessionOf(args);
      if (session) {
        await actions.stop(session);
      }
    }
  });

  commands.addCommand(CommandIds.openSites, {
    label: trans.__('Show Remote Sites'),
    icon: sitesIcon,
    execute: () => shell.activateById(options.panelId)
  });

  commands.addCommand(CommandIds.useRemoteKernel, {
    label: args => {
      const session = sessionOf(args);
      return session
        ? trans.__('Use Remote Kernel on %1', actions.placeOf(session))
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
      const session = sessionOf(args);
      if (!session) {
        throw new Error(trans.__('No session %1.', String(args.sessionId)));
      }
      await actions.useInNotebook(session);
    }
  });

  commands.addCommand(CommandIds.runOnSite, {
    label: args => {
      const { site, profile } = actions.placeNamed(args.site, args.profile);
      if (!site) {
        return trans.__('Run on Remote Site');
      }
      return args.profile && profile
        ? trans.__('Run on %1 (%2)', site.displayName, profile.displayName)
        : trans.__('Run on %1', site.displayName);
    },
    caption: args => {
      const { site, profile } = actions.placeNamed(args.site, args.profile);
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
    isEnabled: args => !!actions.placeNamed(args.site, args.profile).profile,
    execute: async args => {
      const { site, profile } = actions.placeNamed(args.site, args.profile);
      if (!site || !profile) {
        return;
      }
      shell.activateById(options.panelId);
      await actions.launch({ site: site.id, profile: profile.id, type: 'kernel' });
    }
  });

  commands.addCommand(CommandIds.runHere, {
    label: trans.__('Run Notebook on Remote Site…'),
    caption: trans.__("Start a remote session and switch this notebook's kernel to it"),
    icon: sitesIcon,
    isEnabled: () => !!notebooks?.currentWidget,
    execute: async args => {
      const notebook = notebooks?.currentWidget;
      if (notebook) {
        await actions.runHere(notebook, optional(args.site), optional(args.profile));
      }
    }
  });

  /** The file a job command acts on: its argument, the file browser's selection, or the open document. */
  const jobPathOf = (args: { path?: unknown; fromBrowser?: unknown }): string | null => {
    if (args.path) {
      return String(args.path);
    }
    if (args.fromBrowser && files) {
      const item = files.selectedItems().next();
      return item.done ? null : item.value.path;
    }
    const current = shell.currentWidget as { context?: { path: string } } | null;
    return current?.context?.path ?? null;
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
      const path = jobPathOf(args);
      return !!path && isJobFile(path) && interlink.sites.length > 0;
    },
    execute: async args => {
      const path = jobPathOf(args);
      if (!path) {
        return;
      }
      try {
        await actions.runAsJob(path, optional(args.site), optional(args.profile));
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
    createNew: (notebook: NotebookPanel): IDisposable => {
      const button = new ToolbarButton({
        icon: sitesIcon,
        label: trans.__('Remote'),
        tooltip: trans.__("Start a remote session and switch this notebook's kernel to it"),
        onClick: () => {
          actions.runHere(notebook).catch(err =>
            showDialog({
              title: trans.__('Remote kernel not started'),
              body: (err as Error).message,
              buttons: [Dialog.okButton()]
            })
          );
        }
      });
      button.node.setAttribute('data-testid', 'interlink-notebook-run');
      notebook.toolbar.insertItem(10, 'interlinkRun', button);
      return button;
    }
  });

  addSiteItems(options);
}

/** "Run on <site>" in the palette and the launcher, following the list of sites. */
function addSiteItems({ interlink, trans, palette, launcher }: ICommandsOptions): void {
  const category = trans.__('Remote Sites');
  palette?.addItem({ command: CommandIds.openSites, category });
  palette?.addItem({ command: CommandIds.runHere, category });
  palette?.addItem({ command: CommandIds.runAsJob, category });
  let items: IDisposable[] = [];
  let listed = '';
  const sync = () => {
    const ids = interlink.sites.map(s => s.id).join(',');
    if (ids === listed) {
      return;
    }
    listed = ids;
    items.forEach(item => item.dispose());
    items = [];
    interlink.sites.forEach((site, rank) => {
      const args = { site: site.id };
      if (palette) {
        items.push(palette.addItem({ command: CommandIds.runOnSite, args, category }));
      }
      if (launcher) {
        items.push(launcher.add({ command: CommandIds.runOnSite, args, category, rank }));
      }
    });
  };
  interlink.changed.connect(sync);
  sync();
}
