import { LabIcon } from '@jupyterlab/ui-components';

/** The sites panel's tab, its commands and the log tabs. */
export const sitesIcon = new LabIcon({
  name: 'interlink:sites',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M4 3h16a1 1 0 0 1 1 1v4a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1zm1 2v2h2V5H5z' +
    'M4 15h16a1 1 0 0 1 1 1v4a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-4a1 1 0 0 1 1-1zm1 2v2h2v-2H5z"/>' +
    '<path d="M11 9.5h2v2h4v2h-2v1.5h-2V13.5h-2V15H9v-1.5H7v-2h4z"/></g></svg>'
});

/** A session's own files: a folder with a server in it (the default file browser has the bare folder). */
export const remoteFilesIcon = new LabIcon({
  name: 'interlink:remote-files',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M10 4H4c-1.1 0-2 .9-2 2v12c0 1.1.9 2 2 2h16c1.1 0 2-.9 2-2V8c0-1.1-.9-2-2-2h-8l-2-2z' +
    'M7 10h10a1 1 0 0 1 1 1v1.5a1 1 0 0 1-1 1H7a1 1 0 0 1-1-1V11a1 1 0 0 1 1-1zm0 4.5h10a1 1 0 0 1' +
    ' 1 1V17a1 1 0 0 1-1 1H7a1 1 0 0 1-1-1v-1.5a1 1 0 0 1 1-1z" fill-rule="evenodd"/></g></svg>'
});
