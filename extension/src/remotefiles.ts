/**
 * Remote files: each ready kernel session's own files, as a drive of JupyterLab's contents
 * service (its remote Jupyter server's contents API, through the session's tunnel, with the same
 * settings its kernels use) and a file browser on that drive. Opening, editing, saving, uploading
 * (chunked by JupyterLab's own uploader above 15 MB) and downloading work as in any file browser;
 * a path there reads `<drive>:<path>`.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { FileBrowser, IDefaultFileBrowser, IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { Notification, InputDialog } from '@jupyterlab/apputils';
import { PathExt, URLExt } from '@jupyterlab/coreutils';
import { Drive, ServerConnection } from '@jupyterlab/services';
import { filesWriteUrl } from '@jupyterlab-interlink/contract';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandIds } from './commands';
import { copyFile, type CopySource, type CopyTarget } from './filecopy';
import { placeLabel } from './format';
import { remoteFilesIcon } from './icons';
import { IInterlink } from './model';
import { RemoteBackends } from './remote';
import { IRemoteKernels } from './services';

/** The drive of a session's files: `interlink-<session id>`. */
export function driveName(sessionId: string): string {
  return `interlink-${sessionId}`;
}

/** A file on a Jupyter server, read by byte ranges of its `files/` URL. */
function serverSource(settings: ServerConnection.ISettings, path: string): CopySource {
  return {
    size: async () => (await stat(settings, path))!,
    read: async (start, end) => {
      if (end <= start) {
        return new Uint8Array();
      }
      const url = URLExt.join(settings.baseUrl, 'files', URLExt.encodeParts(path));
      const response = await ServerConnection.makeRequest(
        url,
        { headers: { Range: `bytes=${start}-${end - 1}` }, cache: 'no-store' },
        settings
      );
      if (response.status !== 206 && response.status !== 200) {
        throw new Error(`reading ${path}: HTTP ${response.status}`);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      // A server that ignores Range answers the whole file.
      return response.status === 200 ? bytes.slice(start, end) : bytes;
    }
  };
}

/**
 * A file on a Jupyter server, written as raw bytes at their offset to `{writes}files-write/…`
 * (contract/src/files-write.ts); its size from the contents API.
 */
function serverTarget(
  settings: ServerConnection.ISettings,
  writes: string,
  path: string
): CopyTarget {
  return {
    size: () => stat(settings, path),
    write: async (data, offset) => {
      const response = await ServerConnection.makeRequest(
        filesWriteUrl(writes, path, offset),
        {
          method: 'PUT',
          // A read's bytes: a fetched ArrayBuffer, never a shared one.
          body: data as Uint8Array<ArrayBuffer>,
          headers: { 'Content-Type': 'application/octet-stream' }
        },
        settings
      );
      if (!response.ok) {
        throw new Error(`writing ${path}: HTTP ${response.status}`);
      }
    }
  };
}

/** A file's size on a server, or undefined when it has none there. */
async function stat(
  settings: ServerConnection.ISettings,
  path: string
): Promise<number | undefined> {
  const url =
    URLExt.join(settings.baseUrl, 'api/contents', URLExt.encodeParts(path)) + '?content=0';
  const response = await ServerConnection.makeRequest(url, { cache: 'no-store' }, settings);
  if (response.status === 404) {
    return undefined;
  }
  if (!response.ok) {
    throw new Error(`${path}: HTTP ${response.status}`);
  }
  return ((await response.json()) as { size?: number }).size ?? 0;
}

export const remoteFilesPlugin: JupyterFrontEndPlugin<void> = {
  id: '@jupyterlab-interlink/extension:remote-files',
  description: "A file browser on each ready kernel session's own files.",
  autoStart: true,
  requires: [IInterlink, IRemoteKernels, IFileBrowserFactory],
  optional: [ITranslator, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    interlink: IInterlink,
    backends: RemoteBackends,
    factory: IFileBrowserFactory,
    translator: ITranslator | null,
    files: IDefaultFileBrowser | null
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

    /**
     * Copies with a notification that shows how far it got, and what went wrong if it did.
     * `to.writes`: where its server takes raw writes (see serverTarget).
     */
    const copyWithProgress = async (
      from: { settings: ServerConnection.ISettings; path: string },
      to: { settings: ServerConnection.ISettings; writes: string; path: string },
      where: string
    ): Promise<void> => {
      const name = PathExt.basename(from.path);
      const id = Notification.emit(trans.__('Copying %1 to %2…', name, where), 'in-progress', {
        autoClose: false,
        progress: 0
      });
      try {
        await copyFile(
          serverSource(from.settings, from.path),
          serverTarget(to.settings, to.writes, to.path),
          {
            onProgress: (copied, total) =>
              Notification.update({
                id,
                message: trans.__(
                  'Copying %1 to %2: %3 of %4 MiB',
                  name,
                  where,
                  (copied / 2 ** 20).toFixed(1),
                  (total / 2 ** 20).toFixed(1)
                ),
                progress: total ? copied / total : 1
              })
          }
        );
        Notification.update({
          id,
          type: 'success',
          message: trans.__('Copied %1 to %2', name, where),
          autoClose: 5000,
          progress: 1
        });
      } catch (err) {
        Notification.update({
          id,
          type: 'error',
          message: trans.__('Copying %1 to %2 failed: %3', name, where, (err as Error).message),
          autoClose: false
        });
      }
    };

    /** The file selected in the file browser that has the focus, and that browser's drive. */
    const selected = (): { path: string; drive: string } | null => {
      const browser = factory.tracker.currentWidget;
      const item = browser?.selectedItems().next();
      if (!browser || !item || item.done || item.value.type === 'directory') {
        return null;
      }
      const [drive, path] = item.value.path.includes(':')
        ? item.value.path.split(/:(.*)/s)
        : ['', item.value.path];
      return { path, drive };
    };
    const isRemote = (drive: string) => drive.startsWith(driveName(''));

    app.commands.addCommand(CommandIds.copyToRemote, {
      label: trans.__('Copy to a Remote Session…'),
      caption: trans.__('Copy this file to the files of a ready remote kernel session'),
      isVisible: () => !!selected() && !isRemote(selected()!.drive) && backends.all().length > 0,
      execute: async args => {
        const file = selected();
        let sessionId = args.sessionId ? String(args.sessionId) : '';
        const ready = backends.all();
        if (!file || !ready.length) {
          return;
        }
        if (!sessionId) {
          const labels = ready.map(b => {
            const s = interlink.session(b.sessionId);
            return s ? placeLabel(interlink.site(s.site), s) : b.sessionId;
          });
          if (ready.length === 1) {
            sessionId = ready[0].sessionId;
          } else {
            const pick = await InputDialog.getItem({
              title: trans.__('Copy to which session?'),
              items: labels
            });
            if (!pick.button.accept || pick.value === null) {
              return;
            }
            sessionId = ready[labels.indexOf(pick.value)].sessionId;
          }
        }
        const backend = backends.get(sessionId);
        const session = interlink.session(sessionId);
        if (!backend || !session) {
          return;
        }
        await copyWithProgress(
          { settings: app.serviceManager.serverSettings, path: file.path },
          {
            settings: backend.serverSettings,
            writes: backend.serverSettings.baseUrl,
            path: PathExt.basename(file.path)
          },
          placeLabel(interlink.site(session.site), session)
        );
        browsers.get(sessionId)?.model.refresh();
      }
    });

    app.commands.addCommand(CommandIds.copyToLocal, {
      label: trans.__("Copy to JupyterLab's Files"),
      caption: trans.__("Copy this remote file into the folder open in JupyterLab's file browser"),
      isVisible: () => !!selected() && isRemote(selected()!.drive),
      execute: async () => {
        const file = selected();
        const sessionId = file?.drive.slice(driveName('').length) ?? '';
        const backend = backends.get(sessionId);
        if (!file || !backend) {
          return;
        }
        const here = files?.model.path ?? '';
        await copyWithProgress(
          { settings: backend.serverSettings, path: file.path },
          {
            settings: app.serviceManager.serverSettings,
            // The server extension's route (jupyterlab_interlink/fileswrite.py).
            writes: URLExt.join(app.serviceManager.serverSettings.baseUrl, 'interlink/'),
            path: PathExt.join(here, PathExt.basename(file.path))
          },
          here ? here : trans.__("JupyterLab's files")
        );
        await files?.model.refresh();
      }
    });
    const selector = '.jp-DirListing-item[data-isdir="false"]';
    app.contextMenu.addItem({ command: CommandIds.copyToRemote, selector, rank: 60 });
    app.contextMenu.addItem({ command: CommandIds.copyToLocal, selector, rank: 60 });
  }
};
