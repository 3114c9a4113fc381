// What the extension adds to the JupyterLab bundle: its own code and what only it brings
// (the contract, TypeBox), minified and gzipped, with everything JupyterLab already ships
// (@jupyterlab/*, @lumino/*, React) left out, as a prebuilt extension shares them.
// Usage: node bench/extension-size.mjs   (after `npx tsc -b extension`)
import { gzipSync } from 'node:zlib';
import { readFileSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const webpack = require('webpack');
const root = resolve(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'extension-size-'));
const shared = /^(@jupyterlab\/|@lumino\/|react$|react-dom|react\/)/;

const stats = await new Promise((done, fail) =>
  webpack(
    {
      mode: 'production',
      entry: join(root, 'extension/lib/index.js'),
      output: { path: out, filename: 'extension.js', library: { type: 'commonjs2' } },
      externals: [
        ({ request }, cb) => (shared.test(request) ? cb(null, `commonjs ${request}`) : cb())
      ],
      module: { rules: [{ test: /\.css$/, type: 'asset/source' }] },
      performance: { hints: false }
    },
    (err, s) => (err ? fail(err) : done(s))
  )
);
if (stats.hasErrors()) throw new Error(stats.toString('errors-only'));
let raw = 0;
let gz = 0;
for (const f of readdirSync(out).filter(f => f.endsWith('.js'))) {
  const body = readFileSync(join(out, f));
  raw += statSync(join(out, f)).size;
  gz += gzipSync(body, { level: 9 }).length;
}
const budget = 150 * 1024;
console.log(
  JSON.stringify({
    minifiedBytes: raw,
    gzippedBytes: gz,
    budgetGzippedBytes: budget,
    withinBudget: gz <= budget
  })
);
console.log(
  `extension adds ${(raw / 1024).toFixed(1)} KiB minified, ${(gz / 1024).toFixed(1)} KiB gzipped (budget 150 KiB)`
);
