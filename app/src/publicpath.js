// Chunks, fonts and CSS are served from wherever the server mounted the static files
// (it differs behind JupyterHub or the proxy server), so the public path is set at run time.
import { PageConfig } from '@jupyterlab/coreutils';

__webpack_public_path__ = PageConfig.getOption('fullStaticUrl') + '/';
