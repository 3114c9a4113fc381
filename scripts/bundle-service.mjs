// The Node service (proxy server + tunnel agent) as two self-contained files inside the Python
// package (jupyterlab_interlink/node/): a wheel cannot carry a node_modules tree sensibly (tens of
// thousands of files, native-module and symlink trouble), and users need only `node` on PATH.
// esbuild (one pinned dev dependency, no plugins) resolves the workspace packages and npm
// dependencies from the built dist/ output.
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}jupyterlab_interlink/node`;
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['proxy-server/dist/cli.js', 'proxy-server/dist/agent/cli.js'],
  // node/cli.js and node/agent/cli.js: the proxy finds its agent beside it, as in dist/.
  outbase: 'proxy-server/dist',
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'linked',
  // Some dependencies are CommonJS and call require(); ESM output needs one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: 'warning'
});
// The bundles are ES modules; say so, as dist/'s package.json does.
mkdirSync(outdir, { recursive: true });
writeFileSync(`${outdir}/package.json`, '{ "type": "module" }\n');
