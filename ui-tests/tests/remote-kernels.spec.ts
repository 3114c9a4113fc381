/**
 * The Remote sites panel and remote kernels in notebooks, against the proxy server's embedded
 * `local` site (sessions run as local processes, reached through the tunnel).
 */
import { expect, test } from '../fixtures';
import { frontDoor, token } from '../frontdoor';
import {
  alive,
  cleanUp,
  expectKernel,
  newNotebook,
  openSites,
  pickKernel,
  run,
  runOn,
  setTheme,
  shot
} from '../helpers';

test.skip(
  frontDoor !== 'proxy',
  'remote sessions need the proxy server as front door (UI_TESTS_FRONT_DOOR=proxy)'
);
// Each test starts Jupyter servers for its sessions on two shared cores.
test.describe.configure({ mode: 'serial', timeout: 180_000 });

const auth = { Authorization: `token ${token}` };

test.afterEach(async ({ lab: page }) => cleanUp(page, page.request, auth));

test('the Remote sites panel lists sites and validates the launch form as you type', async ({
  lab: page
}, testInfo) => {
  const panel = await openSites(page);
  const site = panel.getByTestId('interlink-site-local');
  await expect(site).toContainText('This machine');
  await expect(site.locator('.jp-InterlinkBadge')).toHaveText('Cloud');
  await expect(site.locator('.jp-InterlinkHealth')).toHaveText('Available');
  await expect(
    panel.getByRole('button', { name: /^Run .* on This machine$/ }).first()
  ).toBeEnabled();
  await expect(panel.getByTestId('interlink-stream-status')).toHaveText('live');

  // Keyboard only: Tab moves between a profile's buttons, Enter opens the form, Tab walks it.
  const options = panel.getByTestId('interlink-configure-local-small');
  await options.focus();
  await page.keyboard.press('Tab');
  await expect(panel.getByTestId('interlink-run-local-small')).toBeFocused();
  await page.keyboard.press('Shift+Tab');
  await expect(options).toBeFocused();
  await page.keyboard.press('Enter');
  const form = panel.getByTestId('interlink-launch-form');
  await expect(form).toBeVisible();
  await expect(options).toHaveAttribute('aria-expanded', 'true');
  await form.getByTestId('interlink-field-profile').focus();
  await page.keyboard.press('Tab');
  const walltime = form.getByTestId('interlink-field-walltime');
  await expect(walltime).toBeFocused();
  await expect(walltime).toHaveValue('1:00:00');

  await walltime.fill('100:00:00');
  await expect(form.getByTestId('interlink-error-walltime')).toContainText('walltime: at most');
  await expect(walltime).toHaveAttribute('aria-invalid', 'true');
  await expect(form.getByTestId('interlink-launch')).toBeDisabled();

  await walltime.fill('ten minutes');
  await expect(form.getByTestId('interlink-error-walltime')).toContainText('H:MM:SS');

  // Schema check from the contract: under one minute is refused before the server sees it.
  await walltime.fill('0:00:30');
  await expect(form.getByTestId('interlink-error-walltime')).toContainText('walltime');

  await walltime.fill('0:30:00');
  await expect(form.getByTestId('interlink-error-walltime')).toHaveCount(0);
  await form.getByTestId('interlink-field-type-job').check();
  await expect(form.getByTestId('interlink-error-path')).toContainText('path');
  await form.getByTestId('interlink-field-path').fill('analysis.py');
  await expect(form.getByTestId('interlink-launch')).toBeEnabled();

  await shot(page, testInfo, 'launch-form-light');
  await setTheme(page, 'JupyterLab Dark');
  await shot(page, testInfo, 'launch-form-dark');
  await setTheme(page, 'JupyterLab Light');
  await form.getByRole('button', { name: 'Cancel' }).click();
  await expect(form).toHaveCount(0);
});

test('Run on the local site, use the remote kernel in an open notebook, switch back and stop', async ({
  lab: page
}, testInfo) => {
  const notebook = await newNotebook(page);
  const localPid = await run(page, notebook, 'import os; print(os.getpid())');

  const panel = await openSites(page);
  const { card, id } = await runOn(panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(card.getByTestId('interlink-session-time')).toContainText('left');
  await shot(page, testInfo, 'session-ready');

  await card.getByTestId('interlink-use').click();
  await expectKernel(notebook, '— This machine');
  await expect(notebook.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
    'data-status',
    'idle'
  );
  const remote = await run(
    page,
    notebook,
    "import os; print(os.environ.get('INTERLINK_SESSION_ID'), os.getpid())"
  );
  const [remoteSession, remotePid] = remote.trim().split(/\s+/);
  expect(remoteSession).toBe(id);
  expect(remotePid).not.toBe(localPid);
  await shot(page, testInfo, 'notebook-on-remote-kernel');

  // JupyterLab's own kernel picker lists the remote kernel beside the local one.
  await pickKernel(page, notebook, /^Python 3 \(ipykernel\)$/);
  await expectKernel(notebook, /^Python 3 \(ipykernel\)$/);
  expect(
    await run(page, notebook, "import os; print(os.environ.get('INTERLINK_SESSION_ID'))")
  ).toBe('None');
  await pickKernel(page, notebook, '— This machine', () => shot(page, testInfo, 'kernel-picker'));
  expect(
    await run(page, notebook, "import os; print(os.environ.get('INTERLINK_SESSION_ID'))")
  ).toBe(id);

  // Stop, with confirmation: the session ends, its processes are gone, the kernel shows dead.
  const session = await (
    await page.request.get(`/interlink/api/sessions/${id}`, { headers: auth })
  ).json();
  await card.getByTestId('interlink-stop').click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Stop this session?');
  await dialog.getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(card).toHaveAttribute('data-state', /cancelled|completed/, { timeout: 30_000 });
  await expect(page.locator('.jp-StatusBar-Widget', { hasText: '| Dead' })).toBeVisible();
  if (session.backendId && /^\d+$/.test(session.backendId)) {
    await expect.poll(() => alive(Number(session.backendId)), { timeout: 15_000 }).toBe(false);
  }
  await shot(page, testInfo, 'remote-kernel-dead');
});

test('a session killed on the backend shows failed with its reason and its kernel shows dead', async ({
  lab: page
}, testInfo) => {
  const notebook = await newNotebook(page);
  const panel = await openSites(page);
  const { card, id } = await runOn(panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await card.getByTestId('interlink-use').click();
  await expectKernel(notebook, '— This machine');
  expect(await run(page, notebook, 'print(6*7)')).toBe('42');

  const session = await (
    await page.request.get(`/interlink/api/sessions/${id}`, { headers: auth })
  ).json();
  test.skip(!/^\d+$/.test(session.backendId ?? ''), 'the local driver reports a process id');
  // Hours may pass between "ready" and a failure: its toast has long closed by then.
  await expect(page.locator('.Toastify__toast', { hasText: 'is ready' })).toHaveCount(0);
  const killedAt = Date.now();
  process.kill(Number(session.backendId), 'SIGKILL');

  await expect(card).toHaveAttribute('data-state', 'failed');
  testInfo.annotations.push({
    type: 'failed shown after',
    description: `${Date.now() - killedAt} ms`
  });
  await expect(card.getByTestId('interlink-session-reason')).not.toBeEmpty();
  await expect(page.locator('.jp-StatusBar-Widget', { hasText: '| Dead' })).toBeVisible();
  await expect(notebook.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
    'data-status',
    'dead'
  );
  await expect(page.locator('.Toastify__toast', { hasText: 'failed' })).toBeVisible();
  await shot(page, testInfo, 'session-failed');
});
