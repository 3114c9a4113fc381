import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandIds, registerCommands } from './commands';
import { registerWebApps } from './webapps';
import { remoteFilesPlugin } from './remotefiles';
import { sitesIcon } from './icons';
import { resultPath } from './jobfiles';
import { SitesPanel } from './mainviews/SitesPanel';
import { IInterlink } from './model';
import { Notifier } from './notify';
import { RemoteBackends } from './remote';
import { IRemoteKernels, servicePlugins } from './services';
import { SessionActions } from './sessionactions';

export { CommandIds } from './commands';
export { sitesIcon } from './icons';
export { IInterlink } from './model';
export { IRemoteKernels } from './services';

const PLUGIN_ID = '@jupyterlab-interlink/extension:plugin';

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
    const openLogs = (session: { id: string }) =>
      void commands.execute(CommandIds.showLogs, { sessionId: session.id });

    const actions: SessionActions = new SessionActions({
      app,
      interlink,
      backends,
      notebooks,
      trans,
      launched: session => notifier.follow(session.id),
      openLogs,
      showPanel: () => shell.activateById(panel.id)
    });

    const notifier = new Notifier({
      interlink,
      trans,
      notebooks,
      useInNotebook: session => actions.useInNotebook(session),
      openLogs,
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

    const panel = new SitesPanel({ interlink, trans, actions });
    backends.changed.connect(() => panel.update());
    panel.title.icon = sitesIcon;
    panel.title.caption = trans.__('Remote sites');
    shell.add(panel, 'left', { rank: 300 });
    restorer?.add(panel, 'interlink-sites');

    registerCommands({
      app,
      interlink,
      backends,
      actions,
      trans,
      panelId: panel.id,
      notebooks,
      palette,
      launcher,
      files
    });
    registerWebApps(app, interlink, launcher, trans);

    if (settings) {
      void settings
        .load(PLUGIN_ID)
        .then(loaded => {
          const apply = () => {
            notifier.enabled = loaded.get('notifications').composite !== false;
            notifier.warnBeforeSeconds =
              Number(loaded.get('walltimeWarningMinutes').composite ?? 15) * 60;
            notifier.saveBeforeEnd = loaded.get('saveBeforeWalltimeEnds').composite !== false;
          };
          apply();
          loaded.changed.connect(apply);
        })
        .catch(() => undefined);
    }
  }
};

export default [...servicePlugins, uiPlugin, remoteFilesPlugin];
