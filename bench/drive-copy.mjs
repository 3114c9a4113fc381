// A file copied between JupyterLab and a session's remote server the way the extension's
// "Copy to a Remote Session…" / "Copy to JupyterLab's Files" do it (extension/src/filecopy.ts:
// chunks read by byte range of `files/`, written raw at their offset to `files-write/`, see
// contract/src/files-write.ts), through the standalone path (`jupyter lab` with the wheel, its
// Node service, the tunnel, the agent, the session's jupyter_server), against a plain download
// of the same file through the same tunnel, alternating, in one run; sha256 checked after every
// copy. `--site leonardo` runs the session as a job of the single-node Slurm of
// scripts/slurm-local.sh (started here; the job's folder is its home), with the UI tests' sites.
// Usage: node bench/drive-copy.mjs [--mib 100] [--runs 3] [--chunk-mib 8] [--site local|leonardo]
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { filesWriteUrl } from '../contract/dist/index.js';
import filecopy from '../extension/dist/filecopy.js';
import { readySession, startLab } from '../proxy-server/dist/testing/jupyter-lab.js';
import { fmt, median } from './tunnel-support/common.mjs';

const { copyFile, CHUNK_BYTES } = filecopy;
const { fetch, performance } = globalThis;
const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    'chunk-mib': { type: 'string', default: String(CHUNK_BYTES / 2 ** 20) },
    site: { type: 'string', default: 'local' }
  }
});
const SITES = {
  local: { profile: 'small', title: 'the local site' },
  leonardo: { profile: 'a100-1', title: 'a job of the local Slurm' }
};
const site = SITES[args.site];
if (!site) throw new Error(`--site: ${args.site} is not one of ${Object.keys(SITES).join(', ')}`);
const MIB = Number(args.mib);
const RUNS = Number(args.runs);
const chunkBytes = Number(args['chunk-mib']) * 2 ** 20;

const dir = mkdtempSync(path.join(tmpdir(), 'interlink-bench-drive-'));
const root = path.join(dir, 'lab');
if (args.site === 'leonardo') {
  const repo = path.resolve(import.meta.dirname, '..');
  execFileSync('bash', [path.join(repo, 'scripts/slurm-local.sh'), 'start'], { stdio: 'inherit' });
  const conf = execFileSync('bash', [path.join(repo, 'scripts/slurm-local.sh'), 'env'], {
    encoding: 'utf8'
  });
  process.env.SLURM_CONF = conf.trim().split('=')[1];
  process.env.INTERLINK_SITES = path.join(repo, 'ui-tests', 'sites-slurm.yaml');
}
// A Slurm job starts in its home; a local session in JupyterLab's folder.
const remoteRoot = args.site === 'local' ? root : homedir();
const lab = await startLab(root);
const headers = { authorization: `token ${lab.token}` };

/**
 * A server's file, read by range and written raw at an offset to `{writes}files-write/`, as the
 * extension's endpoints do.
 */
const endpoint = (base, writes, file) => ({
  size: async () => {
    const r = await fetch(`${base}api/contents/${file}?content=0`, { headers });
    if (r.status === 404) return undefined;
    if (!r.ok) throw new Error(`stat ${file}: ${r.status}`);
    return (await r.json()).size;
  },
  read: async (start, end) => {
    const r = await fetch(`${base}files/${file}`, {
      headers: { ...headers, range: `bytes=${start}-${end - 1}` }
    });
    if (r.status !== 206) throw new Error(`read ${file}: ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  },
  write: async (data, offset) => {
    const r = await fetch(filesWriteUrl(writes, file, offset), {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: data
    });
    if (!r.ok) throw new Error(`write ${file}: ${r.status} ${await r.text()}`);
  }
});

try {
  const session = await readySession(lab, args.site, site.profile);
  const local = `${lab.url}/`;
  const remote = `${lab.url}${session.url}`;
  // JupyterLab's own files take raw writes at the server extension's route.
  const writesLocal = `${lab.url}/interlink/`;
  // The local site's remote server serves JupyterLab's root too: the copy goes to another name.
  const bytes = randomBytes(MIB * 2 ** 20);
  const want = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(path.join(root, 'source.bin'), bytes);
  // The download's source on the remote side (the same file for the local site).
  writeFileSync(path.join(remoteRoot, 'source.bin'), bytes);
  const rates = { download: [], toRemote: [], back: [] };
  for (let run = 0; run < RUNS; run++) {
    let t = performance.now();
    const got = await fetch(`${remote}files/source.bin`, { headers });
    const downloaded = Buffer.from(await got.arrayBuffer());
    rates.download.push(MIB / ((performance.now() - t) / 1000));
    if (createHash('sha256').update(downloaded).digest('hex') !== want) throw new Error('download');

    t = performance.now();
    await copyFile(
      endpoint(local, writesLocal, 'source.bin'),
      endpoint(remote, remote, 'copy.bin'),
      {
        chunkBytes
      }
    );
    rates.toRemote.push(MIB / ((performance.now() - t) / 1000));
    t = performance.now();
    await copyFile(endpoint(remote, remote, 'copy.bin'), endpoint(local, writesLocal, 'back.bin'), {
      chunkBytes
    });
    rates.back.push(MIB / ((performance.now() - t) / 1000));
    for (const file of [path.join(remoteRoot, 'copy.bin'), path.join(root, 'back.bin')]) {
      const hash = createHash('sha256').update(readFileSync(file)).digest('hex');
      if (hash !== want) throw new Error(`${file} differs from the source`);
    }
    console.error(
      `run ${run + 1}: download ${fmt(rates.download[run])}, to the session ${fmt(rates.toRemote[run])}, back ${fmt(rates.back[run])} MiB/s`
    );
  }
  const m = key => median(rates[key]);
  console.log(
    `\n${MIB} MiB through the standalone path to ${site.title}, ${chunkBytes / 2 ** 20} MiB chunks, ${RUNS} alternating runs, medians (MiB/s)`
  );
  console.log(
    '| download through the tunnel | copy to the session | copy back | to the session / download | back / download |'
  );
  console.log('| --- | --- | --- | --- | --- |');
  console.log(
    `| ${fmt(m('download'))} | ${fmt(m('toRemote'))} | ${fmt(m('back'))} | ${fmt(m('toRemote') / m('download'))} | ${fmt(m('back') / m('download'))} |`
  );
  console.log(
    `runs: download ${rates.download.map(r => fmt(r, 0)).join(', ')}; to the session ${rates.toRemote.map(r => fmt(r, 0)).join(', ')}; back ${rates.back.map(r => fmt(r, 0)).join(', ')}`
  );
  await lab.api('DELETE', `/api/sessions/${session.id}`);
} finally {
  await lab.stop();
  rmSync(dir, { recursive: true, force: true });
  for (const name of ['source.bin', 'copy.bin'])
    rmSync(path.join(remoteRoot, name), { force: true });
}
