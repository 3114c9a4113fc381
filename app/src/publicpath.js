/* global __webpack_public_path__: writable */ /* eslint-disable-line @typescript-eslint/no-unused-vars -- assigned below, read by the webpack runtime */
// Chunks, fonts and CSS are served from wherever the server mounted the static files
// (it differs behind JupyterHub or the proxy server), so the public path is set at run time.
import { PageConfig } from '@jupyterlab/coreutils';

__webpack_public_path__ = PageConfig.getOption('fullStaticUrl') + '/';
