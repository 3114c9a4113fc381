// Placeholder until the real extension lands: proves the app bundles and activates it.
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@jupyterlab-interlink/extension:plugin',
  description: 'Remote sites and sessions through interLink.',
  autoStart: true,
  activate: (_app: JupyterFrontEnd): void => {
    console.log('@jupyterlab-interlink/extension activated');
  }
};

export default [plugin];
