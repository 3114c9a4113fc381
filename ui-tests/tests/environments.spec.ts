/**
 * Environments: the "Two Pythons" site offers Debian's Python and a virtualenv; a kernel launched
 * in the virtualenv from the launch form runs there, and the kernel picker says which.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, test } from '../fixtures';
import {
  expectKernel,
  launchesSessions,
  newNotebook,
  openSites,
  run,
  sessionCards,
  shot
} from '../helpers';

launchesSessions();
/** The site file names this Python: a virtualenv on Debian's, with its jupyter_server and ipykernel. */
const VENV = '/tmp/interlink-ui-tests-venv';

test.beforeAll(() => {
  if (!existsSync(`${VENV}/bin/python`)) {
    execFileSync('/usr/bin/python3', ['-m', 'venv', '--system-site-packages', VENV]);
  }
});

test('a kernel launched in the second environment runs there, and its name says so', async ({
  lab: page
}, testInfo) => {
  const panel = await openSites(page);
  await panel.getByTestId('interlink-configure-two-pythons-small').click();
  const form = panel.getByTestId('interlink-launch-form');
  const environment = form.getByTestId('interlink-field-environment');
  await expect(environment).toHaveValue('system');
  await environment.selectOption({ label: 'Test virtualenv' });
  await shot(page, testInfo, 'launch-form-environment');
  await form.getByTestId('interlink-launch').click();
  const card = sessionCards(panel).first();
  await expect(card).toContainText('Two Pythons · Small (1 CPU, 2 GiB) · Test virtualenv');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });

  const notebook = await newNotebook(page);
  await card.getByTestId('interlink-use').click();
  await expectKernel(notebook, '— Two Pythons · Small (1 CPU, 2 GiB) · Test virtualenv');
  expect(await run(page, notebook, 'import sys; print(sys.prefix)')).toBe(VENV);
});
