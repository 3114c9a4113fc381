/**
 * How a site maps hub users to accounts (runAs), and which sites would run several users as one
 * account (what a hub refuses at start). The drivers' side, with real accounts, is in
 * drivers/local-accounts.test.ts, drivers/slurm.test.ts and proxy-server's run-as.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccountHolders, accountName, sharedAccountProblem } from './accounts.js';
import { defaultLocalSite } from './sites.js';
import type { SiteConfig } from './types.js';

const site = (runAs?: SiteConfig['runAs']): SiteConfig => ({ ...defaultLocalSite(), runAs });

test('accountName: a template, a table with the template for the rest, a command', async () => {
  assert.equal(await accountName(site(), 'alice'), undefined);
  assert.equal(await accountName(site({ template: 'ilk-{username}' }), 'alice'), 'ilk-alice');
  const table = site({ map: { alice: 'a.smith' }, template: 'hub-{username}' });
  assert.equal(await accountName(table, 'alice'), 'a.smith');
  assert.equal(await accountName(table, 'bob'), 'hub-bob');
  await assert.rejects(
    accountName(site({ map: { alice: 'a.smith' } }), 'bob'),
    /^Error: site "local" maps no account for bob: ask its admin$/
  );
  const command = site({ command: ['/bin/sh', '-c', 'echo "u_$0"', '{username}'] });
  assert.equal(await accountName(command, 'alice'), 'u_alice');
});

test("accountName: a command's failure refuses the launch in its own words", async () => {
  const failing = site({
    command: ['/bin/sh', '-c', 'echo "$0 has no account at this centre" >&2; exit 3', '{username}']
  });
  await assert.rejects(
    accountName(failing, 'mallory'),
    /^Error: site "local" maps no account for mallory: \/bin\/sh failed \(mallory has no account at this centre\)$/
  );
  // What it prints must be an account name, not something a shell or a path would misread.
  await assert.rejects(
    accountName(site({ command: ['echo', '../root'] }), 'alice'),
    /maps alice to "..\/root", which is not an account name/
  );
  await assert.rejects(
    accountName(site({ template: '{username}' }), 'alice@example.org'),
    /which is not an account name/
  );
});

test('sharedAccountProblem: what a hub refuses at start, and what it accepts', () => {
  assert.match(
    sharedAccountProblem(site())!,
    /^site "local" runs every user's jobs as the service's own account, so each user's kernel could read the others' secrets, tokens and files\./
  );
  assert.match(
    sharedAccountProblem(site({ template: 'jupyter' }))!,
    /maps every user to the account "jupyter" \(runAs.template has no \{username\}\)/
  );
  assert.match(
    sharedAccountProblem(site({ map: { alice: 'lab', bob: 'lab' } }))!,
    /maps several users to the account "lab" in runAs.map/
  );
  assert.equal(
    sharedAccountProblem(site({ map: { alice: 'ilk-bob' }, template: 'ilk-{username}' })),
    'site "local" maps alice to "ilk-bob" in runAs.map, the account runAs.template gives bob; give each their own, or set runAs.shared: true if that is what you mean.'
  );
  // bob is in the table too: the template never gives him ilk-bob.
  assert.equal(
    sharedAccountProblem(
      site({ map: { alice: 'ilk-bob', bob: 'b.jones' }, template: 'ilk-{username}' })
    ),
    undefined
  );
  assert.equal(sharedAccountProblem(site({ template: '{username}' })), undefined);
  assert.equal(sharedAccountProblem(site({ command: ['/usr/local/sbin/hub-to-unix'] })), undefined);
  assert.equal(sharedAccountProblem(site({ shared: true })), undefined);
  assert.equal(sharedAccountProblem(site({ template: 'jupyter', shared: true })), undefined);
});

test('AccountHolders: one account runs one user’s jobs per site, unless the site shares it', () => {
  const holders = new AccountHolders();
  const a = site({ command: ['x'] });
  const b = { ...a, id: 'other' };
  assert.equal(holders.claim(a, 'lab', 'alice'), undefined);
  assert.equal(holders.claim(a, 'lab', 'alice'), undefined);
  assert.match(holders.claim(a, 'lab', 'bob')!, /maps bob to "lab", which already runs another/);
  assert.doesNotMatch(holders.claim(a, 'lab', 'bob')!, /alice/, "the other user's name is theirs");
  assert.equal(holders.claim(b, 'lab', 'bob'), undefined, 'another site, another account');
  assert.equal(
    holders.claim({ ...a, runAs: { ...a.runAs, shared: true } }, 'lab', 'bob'),
    undefined
  );
});
