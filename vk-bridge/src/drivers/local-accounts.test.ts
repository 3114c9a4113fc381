/**
 * The local driver under identity mapping, on its own: a job runs as its account with its files
 * private to it, without changing folders the driver does not own; and a service that is not
 * root refuses jobs for any account but its own. Needs root (it makes the test accounts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalDriver } from './local.js';
import { runAs, testAccount, type TestAccount } from '../testing/accounts.js';
import { launch, PYTHON, readUntil, testSite } from '../testing/fixtures.js';

const site = testSite();
let scratch: string;
let alice: TestAccount;
let bob: TestAccount;

before(() => {
  alice = testAccount('alice');
  bob = testAccount('bob');
  // A folder every account writes in, as /tmp or a cluster's /scratch is.
  scratch = mkdtempSync(join(tmpdir(), 'interlink-scratch-'));
  chmodSync(scratch, 0o1777);
});

after(() => rmSync(scratch, { recursive: true, force: true }));

test('local: a job runs as its account, its files are its own, and the folder above keeps its mode', async () => {
  const driver = new LocalDriver(site, { stateDir: join(scratch, 'jobs'), killGraceMs: 1000 });
  await driver.start();
  try {
    const { bundle, spec, secret } = launch(
      site,
      [
        PYTHON,
        '-c',
        'import os, time; print("uid", os.getuid(), "file", os.environ["INTERLINK_SECRET_FILE"], flush=True); time.sleep(30)'
      ],
      { account: alice }
    );
    await driver.create(bundle);
    const out = await readUntil(await driver.logs(spec.sessionId, { follow: true }), '\n');
    const [, uid, file] = /uid (\d+) file (\S+)/.exec(out)!;
    assert.equal(Number(uid), alice.uid);
    assert.equal(statSync(file).uid, alice.uid);
    assert.equal(runAs(alice, ['cat', file]).output, secret);
    const stolen = runAs(bob, ['cat', file]);
    assert.notEqual(stolen.status, 0, "ilk-bob read ilk-alice's secret");
    assert.match(stolen.output, /Permission denied/);
    // The job could pass through the scratch folder, which stays writable by all and sticky.
    assert.equal(statSync(scratch).mode & 0o7777, 0o1777);
    // The driver's own folder is passable, not listable: nobody sees the others' sessions.
    assert.equal(statSync(join(scratch, 'jobs')).mode & 0o777, 0o711);
    await driver.delete(spec.sessionId);
  } finally {
    await driver.close();
  }
});

/**
 * Runs this file's child part as `account`: a local driver in a service that is not root. The
 * child loads its modules as root and only then becomes `account`, so the test does not depend
 * on the checkout being readable by other accounts (a fresh clone sits in a private folder).
 */
function serviceAs(account: TestAccount, jobAccount: TestAccount | undefined): string {
  const state = mkdtempSync(join(scratch, 'service-'));
  chownSync(state, account.uid, account.gid);
  const script = join(state, 'service.mjs');
  writeFileSync(
    script,
    `
import { LocalDriver } from ${JSON.stringify(new URL('./local.js', import.meta.url).href)};
import { launch, testSite, waitForStatus } from ${JSON.stringify(new URL('../testing/fixtures.js', import.meta.url).href)};
process.setgroups([${account.gid}]);
process.setgid(${account.gid});
process.setuid(${account.uid});
process.env.HOME = ${JSON.stringify(account.home)};
const site = testSite();
const driver = new LocalDriver(site, { stateDir: ${JSON.stringify(join(state, 'jobs'))} });
await driver.start();
const account = ${JSON.stringify(jobAccount ?? null)} ?? undefined;
const { bundle, spec } = launch(site, ['/bin/true'], { account });
const done = waitForStatus(driver, spec.sessionId, s => s.phase === 'succeeded' || s.phase === 'failed');
done.catch(() => {});
try {
  await driver.create(bundle);
  console.log('phase', (await done).phase);
} catch (err) {
  console.log('refused', err.message);
}
await driver.close();
process.exit(0);
`
  );
  chmodSync(script, 0o644);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', cwd: state });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout.trim();
}

test('local: a service that is not root refuses a job for another account, saying why', () => {
  assert.equal(
    serviceAs(alice, bob),
    `refused site "test" runs jobs as uid ${bob.uid}, but the service is not root and cannot start processes as another account (run it as root, or leave runAs out)`
  );
  // Its own account (a standalone user mapped to themselves) is no other account: the job runs.
  assert.equal(serviceAs(alice, alice), 'phase succeeded');
  assert.equal(serviceAs(alice, undefined), 'phase succeeded');
});
