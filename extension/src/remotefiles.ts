/**
 * Remote files: each ready kernel session's own files, as a drive of JupyterLab's contents
 * service (its remote Jupyter server's contents API, through the session's tunnel, with the same
 * settings its kernels use) and a file browser on that drive. Opening, editing, saving, uploading
 * (chunked by JupyterLab's own uploader above 15 MB) and downloading work as in any file browser;
 * a path there reads `<drive>:<path>`.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { FileBrowser, IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { Drive } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandIds } from './commands';
import { placeLabel } from './format';
import { remoteFilesIcon } from './icons';
import { IInterlink } from './model';
import { RemoteBackends } from './remote';
import { IRemoteKernels } from './services';

/** The drive of a session's files: `interlink-<session id>`. */
export function driveName(sessionId: string): string {
  return `interlink-${sessionId}`;
}

export const remoteFilesPlugin: JupyterFrontEndPlugin<void> = {
  id: '@jupyterlab-interlink/extension:remote-files',
  description: "A file browser on each ready kernel session's own files.",
  autoStart: true,
  requires: [IInterlink, IRemoteKernels, IFileBrowserFactory],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    interlink: IInterlink,
    backends: RemoteBackends,
    factory: IFileBrowserFactory,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_interlink');
    const drives = new Set<string>();
    const browsers = new Map<string, FileBrowser>();

    // The session's drive, added once its remote server answers (the contents service keeps
    // drives for good, so a later session of the same id finds its own again).
    const driveOf = (sessionId: string): string | null => {
      const backend = backends.get(sessionId);
      if (!backend) {
        return null;
      }
      const name = driveName(sessionId);
      if (!drives.has(name)) {
        app.serviceManager.contents.addDrive(
          new Drive({ name, serverSettings: backend.serverSettings })
        );
        drives.add(name);
      }
      return name;
    };

    // A session that ends takes its browser with it.
    backends.changed.connect(() => {
      for (const [sessionId, browser] of browsers) {
        if (!backends.get(sessionId)) {
          browser.dispose();
          browsers.delete(sessionId);
        }
      }
    });

    app.commands.addCommand(CommandIds.openFiles, {
      label: trans.__('Open Remote Files'),
      caption: trans.__("A file browser on this session's own files, on its remote side"),
      icon: remoteFilesIcon,
      describedBy: {
        args: {
          type: 'object',
          properties: { sessionId: { type: 'string' } },
          required: ['sessionId']
        }
      },
      isEnabled: args => !!backends.get(String(args.sessionId ?? '')),
      execute: args => {
        const sessionId = String(args.sessionId ?? '');
        const open = browsers.get(sessionId);
        if (open) {
          app.shell.activateById(open.id);
          return;
        }
        const drive = driveOf(sessionId);
        const session = interlink.session(sessionId);
        if (!drive || !session) {
          return;
        }
        const browser = factory.createFileBrowser(`interlink-files-${sessionId}`, {
          driveName: drive,
          restore: false
        });
        browser.title.icon = remoteFilesIcon;
        browser.title.caption = trans.__(
          'Files of the session on %1',
          placeLabel(interlink.site(session.site), session)
        );
        browser.node.setAttribute('data-testid', `interlink-files-${sessionId}`);
        browser.disposed.connect(() => browsers.delete(sessionId));
        browsers.set(sessionId, browser);
        app.shell.add(browser, 'left', { rank: 310 });
        app.shell.activateById(browser.id);
      }
    });
  }
};
