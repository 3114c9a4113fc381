/* global window */
// Entry point of the JupyterLab front end with the interLink extension bundled in.
// Must stay first: later imports resolve chunk URLs against the public path.
import './publicpath';

import { JupyterLab } from '@jupyterlab/application';
import { PageConfig } from '@jupyterlab/coreutils';
import { IServiceManager } from '@jupyterlab/services';
import { PluginRegistry } from '@lumino/coreutils';

// Plugins that cannot work against Debian's jupyter_server 1.23 / jupyterlab_server 2.16,
// or that need packages this app does not ship (the language server protocol).
const EXCLUDED = [
  /:language-server$/,
  // Asks to fetch news from /lab/api/news, which jupyterlab_server 2.16 does not have.
  /^@jupyterlab\/apputils-extension:announcements$/
];

function pluginsOf(module) {
  const exported = module.default ?? module;
  return Array.isArray(exported) ? exported : [exported];
}

function wanted(plugin) {
  const disabledByPage = PageConfig.getOption('disabledExtensions');
  if (EXCLUDED.some(re => re.test(plugin.id))) {
    return false;
  }
  return !disabledByPage.split(',').includes(plugin.id);
}

async function main() {
  // CSS of every bundled package, ours included (build/style.js is written by the build).
  await import('../build/style.js');

  const extensions = await Promise.all([
    import('@jupyterlab/application-extension'),
    import('@jupyterlab/apputils-extension'),
    import('@jupyterlab/cell-toolbar-extension'),
    import('@jupyterlab/celltags-extension'),
    import('@jupyterlab/codemirror-extension'),
    import('@jupyterlab/completer-extension'),
    import('@jupyterlab/console-extension'),
    import('@jupyterlab/csvviewer-extension'),
    import('@jupyterlab/debugger-extension'),
    import('@jupyterlab/docmanager-extension'),
    import('@jupyterlab/documentsearch-extension'),
    import('@jupyterlab/filebrowser-extension'),
    import('@jupyterlab/fileeditor-extension'),
    import('@jupyterlab/help-extension'),
    import('@jupyterlab/htmlviewer-extension'),
    import('@jupyterlab/hub-extension'),
    import('@jupyterlab/imageviewer-extension'),
    import('@jupyterlab/inspector-extension'),
    import('@jupyterlab/launcher-extension'),
    import('@jupyterlab/logconsole-extension'),
    import('@jupyterlab/mainmenu-extension'),
    import('@jupyterlab/markdownviewer-extension'),
    import('@jupyterlab/markedparser-extension'),
    import('@jupyterlab/mathjax-extension'),
    import('@jupyterlab/metadataform-extension'),
    import('@jupyterlab/notebook-extension'),
    import('@jupyterlab/rendermime-extension'),
    import('@jupyterlab/running-extension'),
    import('@jupyterlab/services-extension'),
    import('@jupyterlab/settingeditor-extension'),
    import('@jupyterlab/shortcuts-extension'),
    import('@jupyterlab/statusbar-extension'),
    import('@jupyterlab/terminal-extension'),
    import('@jupyterlab/theme-dark-extension'),
    import('@jupyterlab/theme-light-extension'),
    import('@jupyterlab/toc-extension'),
    import('@jupyterlab/tooltip-extension'),
    import('@jupyterlab/translation-extension'),
    import('@jupyterlab/ui-components-extension'),
    import('@jupyterlab-interlink/extension')
  ]);
  const mimeExtensions = await Promise.all([
    import('@jupyterlab/javascript-extension'),
    import('@jupyterlab/json-extension'),
    import('@jupyterlab/pdf-extension')
  ]);

  // JupyterLab >= 4.4 builds its service manager from plugins: register every plugin first, drop a
  // core plugin when a bundled extension provides the same token (its replacement), then resolve
  // the service manager from what is left.
  const plugins = extensions.flatMap(pluginsOf).filter(wanted);
  const isCore = plugin => plugin.id.startsWith('@jupyterlab/');
  const replaced = new Set(plugins.filter(p => !isCore(p) && p.provides).map(p => p.provides));
  const pluginRegistry = new PluginRegistry();
  pluginRegistry.registerPlugins(plugins.filter(p => !(isCore(p) && replaced.has(p.provides))));
  const serviceManager = await pluginRegistry.resolveOptionalService(IServiceManager);

  const lab = new JupyterLab({
    pluginRegistry,
    serviceManager,
    mimeExtensions: mimeExtensions.flatMap(pluginsOf)
  });
  // Lets tests and people debugging in the console reach the application.
  window.jupyterapp = lab;
  await lab.start();
  await lab.restored;
}

window.addEventListener('load', () => {
  main().catch(err => console.error('JupyterLab failed to start', err));
});
