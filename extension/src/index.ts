import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { IInterlink } from './model';
import { kernelNameFor, RemoteBackends } from './remote';
import { IRemoteKernels, servicePlugins } from './services';

export { IInterlink } from './model';
export { IRemoteKernels } from './services';

export const CommandIds = {
  useRemoteKernel: 'interlink:use-remote-kernel'
} as const;

const commandsPlugin: JupyterFrontEndPlugin<void> = {
  id: '@jupyterlab-interlink/extension:commands',
  description: 'Commands to use remote kernels in notebooks.',
  autoStart: true,
  requires: [IInterlink, IRemoteKernels],
  optional: [INotebookTracker, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    interlink: IInterlink,
    backends: RemoteBackends,
    notebooks: INotebookTracker | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_interlink');
    app.commands.addCommand(CommandIds.useRemoteKernel, {
      label: args => {
        const session = interlink.session(String(args.sessionId ?? ''));
        const site = session && interlink.site(session.site);
        return site
          ? trans.__('Use Remote Kernel on %1', site.displayName)
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
      isEnabled: args => !!notebooks?.currentWidget && !!backends.get(String(args.sessionId ?? '')),
      execute: async args => {
        const sessionId = String(args.sessionId ?? '');
        const panel = notebooks?.currentWidget;
        if (!panel) {
          throw new Error(trans.__('Open a notebook first.'));
        }
        const backend = backends.get(sessionId);
        if (!backend) {
          throw new Error(trans.__('Session %1 is not ready.', sessionId));
        }
        await backend.specReady;
        await panel.sessionContext.ready;
        await panel.sessionContext.changeKernel({ name: kernelNameFor(sessionId) });
      }
    });
  }
};

export default [...servicePlugins, commandsPlugin];
