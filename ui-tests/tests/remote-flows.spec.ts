/**
 * "Run on <site>" everywhere a user looks, several kernels at once, logs, walltime warnings and a
 * page reload, against the proxy server's embedded `local` site.
 */
import { expect, test } from '../fixtures';
import { frontDoor, token } from '../frontdoor';
import {
  activate,
  cardId,
  chooseInDialog,
  cleanUp,
  command,
  expectKernel,
  listedSessions,
  newNotebook,
  openSites,
  run,
  runOn,
  sessionCards,
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

test('the notebook toolbar launches a session and switches this notebook to it when ready', async ({
  lab: page
}, testInfo) => {
  const notebook = await newNotebook(page);
  await notebook.getByTestId('interlink-notebook-run').click();
  await chooseInDialog(page, 'Run this notebook remotely', /^This machine · Small/);

  // Notifications follow the session; the notebook switches by itself once it is ready.
  await expect(page.locator('.Toastify__toast', { hasText: 'This machine' }).first()).toBeVisible();
  await expectKernel(notebook, '— This machine');
  await expect(page.locator('.Toastify__toast', { hasText: 'is ready' })).toBeVisible();
  await shot(page, testInfo, 'toolbar-run-ready');
  const panel = await openSites(page);
  const id = await cardId(sessionCards(panel).first());
  expect(await run(page, notebook, "import os; print(os.environ['INTERLINK_SESSION_ID'])")).toBe(
    id
  );
});

test('Run on <site> from the launcher and the command palette', async ({ lab: page }) => {
  const panel = await openSites(page);
  const cards = sessionCards(panel);
  const before = await listedSessions(panel);

  await command(page, 'launcher:create');
  await page
    .locator('.jp-Launcher:visible .jp-LauncherCard[data-category="Remote Sites"]', {
      hasText: 'Run on This machine'
    })
    .click();
  await expect(cards).toHaveCount(before + 1);
  // Let the launch settle first: its notification takes the focus, which closes the modal palette.
  await expect(cards.nth(0)).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });

  // Opened by its command: the shortcut depends on where the keyboard focus happens to be.
  const palette = page.locator('#modal-command-palette');
  // The modal palette closes when it loses the focus (a toast arriving, the page not yet
  // focused): open it again until it stays open with our search in it.
  await expect(async () => {
    await command(page, 'apputils:activate-command-palette');
    await expect(palette).toBeVisible({ timeout: 2_000 });
    // Fill the search box itself: keys typed before it has focus would be lost.
    await palette.locator('input').fill('Run on This machine', { timeout: 2_000 });
  }).toPass({ timeout: 20_000 });
  await expect(
    palette.locator('.lm-CommandPalette-item', { hasText: 'Run on This machine' }).first()
  ).toBeVisible();
  await page.keyboard.press('Enter');
  await expect(cards).toHaveCount(before + 2);
  await expect(cards.nth(0)).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(cards.nth(1)).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
});

test('one local and two remote kernels in three notebooks at once, each running cells', async ({
  lab: page
}, testInfo) => {
  const panel = await openSites(page);
  const { card: first, id: firstId } = await runOn(panel, 'local', 'small');
  const { card: second, id: secondId } = await runOn(panel, 'local', 'medium');
  await expect(first).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(second).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });

  const local = await newNotebook(page);
  const a = await newNotebook(page);
  await first.getByTestId('interlink-use').click();
  await expectKernel(a, '— This machine · Small');
  const b = await newNotebook(page);
  await second.getByTestId('interlink-use').click();
  await expectKernel(b, '— This machine · Medium');

  const where = "import os; print(os.environ.get('INTERLINK_SESSION_ID'))";
  await activate(page, local);
  expect(await run(page, local, where)).toBe('None');
  await activate(page, a);
  expect(await run(page, a, where)).toBe(firstId);
  await activate(page, b);
  expect(await run(page, b, where)).toBe(secondId);
  // Each keeps its own state.
  await activate(page, a);
  await run(page, a, "x = 'a'; print(x)");
  await activate(page, b);
  expect(await run(page, b, "print(globals().get('x'))")).toBe('None');
  await shot(page, testInfo, 'three-kernels');
  await setTheme(page, 'JupyterLab Dark');
  await shot(page, testInfo, 'three-kernels-dark');
  await setTheme(page, 'JupyterLab Light');
});

test('logs follow in the main area; a reload keeps the notebook on its remote kernel', async ({
  lab: page
}, testInfo) => {
  const notebook = await newNotebook(page);
  const panel = await openSites(page);
  const { card, id } = await runOn(panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await card.getByTestId('interlink-use').click();
  await expectKernel(notebook, '— This machine');
  expect(await run(page, notebook, 'x = 41; print(x)')).toBe('41');
  await page.keyboard.press('Control+s');
  // JupyterLab offers to rename an untitled notebook on its first save.
  await page
    .locator('.jp-Dialog', { hasText: 'Rename' })
    .locator('.jp-mod-accept')
    .click({ timeout: 5_000 })
    .catch(() => undefined);
  const tab = page.locator(
    `.lm-DockPanel-tabBar li[data-id="${await notebook.getAttribute('id')}"]`
  );
  await expect(tab).not.toHaveClass(/jp-mod-dirty/);

  await card.getByTestId('interlink-logs').click();
  const log = page.getByTestId(`interlink-log-${id}`);
  await expect(log).toBeVisible();
  await expect(log.locator('.jp-InterlinkLog-status')).toHaveText('Following the log…');
  await expect(log.locator('pre')).not.toBeEmpty();
  await shot(page, testInfo, 'log-viewer');

  // A plain browser reload: Galata's page.reload() also waits for its own idea of "ready", which
  // a notebook restored onto a remote kernel does not give it.
  await page.evaluate(() => location.reload());
  await page.waitForFunction(() => {
    const app = (window as unknown as { jupyterapp?: { started?: unknown } }).jupyterapp;
    return !!app && !!document.querySelector('#jp-main-dock-panel');
  });
  const restored = page.locator('.jp-NotebookPanel');
  await expect(restored).toHaveCount(1);
  await activate(page, restored);
  await expectKernel(restored, '— This machine');
  // Same kernel: the variable from before the reload is still there.
  expect(await run(page, restored, 'print(x + 1)')).toBe('42');
});

test('a warning before the walltime ends saves the notebooks using that kernel', async ({
  lab: page
}, testInfo) => {
  // Warn 30 minutes ahead (the default is 15). The page's clock is Playwright's, so the test can
  // let half an hour pass once the notebook has unsaved work on the session's kernel.
  await page.request.put('/lab/api/settings/@jupyterlab-interlink/extension:plugin', {
    headers: auth,
    data: { raw: '{ "walltimeWarningMinutes": 30 }' }
  });
  await page.clock.install();
  // A plain browser reload: Galata's page.reload() also waits for its own idea of "ready", which
  // a notebook restored onto a remote kernel does not give it.
  await page.evaluate(() => location.reload());
  await page.waitForFunction(() => {
    const app = (window as unknown as { jupyterapp?: { started?: unknown } }).jupyterapp;
    return !!app && !!document.querySelector('#jp-main-dock-panel');
  });
  try {
    const notebook = await newNotebook(page);
    const panel = await openSites(page);
    const { card } = await runOn(panel, 'local', 'small');
    await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
    await card.getByTestId('interlink-use').click();
    await expectKernel(notebook, '— This machine');
    await run(page, notebook, 'print(1)');
    const tab = page.locator(
      `.lm-DockPanel-tabBar li[data-id="${await notebook.getAttribute('id')}"]`
    );
    await expect(tab).toHaveClass(/jp-mod-dirty/);
    const warning = page.locator('.Toastify__toast', { hasText: 'ends in' });
    // An hour left: nothing to warn about yet.
    await expect(card.getByTestId('interlink-session-time')).toContainText('left');
    await expect(warning).toHaveCount(0);

    await page.clock.fastForward('31:00');
    await expect(warning).toBeVisible({ timeout: 30_000 });
    await expect(warning).toContainText('saved');
    await expect(tab).not.toHaveClass(/jp-mod-dirty/);
    await shot(page, testInfo, 'walltime-warning');
  } finally {
    await page.request.put('/lab/api/settings/@jupyterlab-interlink/extension:plugin', {
      headers: auth,
      data: { raw: '{}' }
    });
  }
});

test('a notebook runs as a batch job from the file browser; its result opens from the notification', async ({
  lab: page,
  tmpPath
}, testInfo) => {
  const source = "print('computed by the job:', sum(range(10)))";
  // Galata opens the file browser in this test's own folder (tmpPath): the notebook goes there,
  // which also runs the job on a notebook in a subfolder.
  const created = await page.request.put(`/api/contents/${tmpPath}/analysis.ipynb`, {
    headers: auth,
    data: {
      type: 'notebook',
      format: 'json',
      content: {
        cells: [{ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source }],
        metadata: {
          kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' }
        },
        nbformat: 4,
        nbformat_minor: 5
      }
    }
  });
  expect(created.ok()).toBe(true);

  // Right-click the notebook in the file browser, as a user does.
  await command(page, 'filebrowser:activate');
  await command(page, 'filebrowser:refresh');
  const item = page
    .locator('.jp-DirListing-content .jp-DirListing-itemText')
    .getByText('analysis.ipynb', { exact: true });
  await item.click({ button: 'right' });
  await page.locator('.lm-Menu-item', { hasText: 'Run as Job on Remote Site…' }).click();
  await chooseInDialog(page, 'Run analysis.ipynb as a job', /^This machine · Small/);

  // The sessions list shows the job, which runs to completion by itself.
  const panel = await openSites(page);
  const card = sessionCards(panel).first();
  await expect(card).toContainText('analysis.ipynb');
  await expect(card).toContainText('Job');
  await expect(card).toHaveAttribute('data-state', 'completed', { timeout: 90_000 });
  const toast = page.locator('.Toastify__toast', { hasText: 'analysis.ipynb' });
  await expect(toast).toContainText('completed');
  await shot(page, testInfo, 'job-completed');

  // The executed copy opens from the notification, with the job's output in it.
  await toast.getByRole('button', { name: 'Open result' }).click();
  const result = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  await expect(page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current')).toContainText(
    'analysis.output.ipynb'
  );
  await expect(result.locator('.jp-OutputArea-output').first()).toHaveText(
    'computed by the job: 45'
  );
  await shot(page, testInfo, 'job-result');

  // The log says what ran.
  await card.getByTestId('interlink-logs').click();
  const log = page.getByTestId(`interlink-log-${await cardId(card)}`);
  await expect(log.locator('pre')).toContainText('nbconvert');
});
