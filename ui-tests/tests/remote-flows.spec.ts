/**
 * "Run on <site>" everywhere a user looks, several kernels at once, logs, walltime warnings and a
 * page reload, against the proxy server's embedded `local` site.
 */
import type { Locator, Page, TestInfo } from '@playwright/test';
import { expect, test } from '../fixtures';
import { frontDoor, token } from '../frontdoor';

test.skip(
  frontDoor !== 'proxy',
  'remote sessions need the proxy server as front door (UI_TESTS_FRONT_DOOR=proxy)'
);
// Each test starts Jupyter servers for its sessions on two shared cores.
test.describe.configure({ mode: 'serial', timeout: 180_000 });

const auth = { Authorization: `token ${token}` };
type App = {
  commands: { execute(id: string, args?: object): Promise<unknown> };
  shell: {
    widgets(area: string): Iterable<{ context?: { model: { dirty: boolean } }; close(): void }>;
  };
};

async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await testInfo.attach(name, { body: await page.screenshot(), contentType: 'image/png' });
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`) });
}

async function command(page: Page, id: string, args: object = {}): Promise<void> {
  await page.evaluate(
    async ([id, args]) => {
      // The result (often a widget) stays in the page.
      await (window as unknown as { jupyterapp: App }).jupyterapp.commands.execute(id, args);
    },
    [id, args] as const
  );
}

async function openSites(page: Page): Promise<Locator> {
  const panel = page.getByTestId('interlink-sites-panel');
  if (!(await panel.isVisible())) {
    await page.locator('.jp-SideBar.jp-mod-left [title="Remote sites"]').click();
  }
  await expect(panel).toBeVisible();
  return panel;
}

async function newNotebook(page: Page): Promise<Locator> {
  await command(page, 'launcher:create');
  await page
    .locator('.jp-Launcher:visible .jp-LauncherCard[data-category="Notebook"]', {
      hasText: /^Python 3 \(ipykernel\)$/
    })
    .click();
  const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  await expect(notebook.locator('.jp-Toolbar-kernelName')).toHaveText('Python 3 (ipykernel)');
  await expect(notebook.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
    'data-status',
    'idle'
  );
  // The same notebook, whichever tab is active later.
  const id = await notebook.getAttribute('id');
  return page.locator(`.jp-NotebookPanel[id="${id}"]`);
}

async function activate(page: Page, notebook: Locator): Promise<void> {
  const id = await notebook.getAttribute('id');
  await page.locator(`.lm-DockPanel-tabBar li[data-id="${id}"]`).click();
  await expect(notebook).toBeVisible();
}

async function run(page: Page, notebook: Locator, code: string): Promise<string> {
  const cells = notebook.locator('.jp-Cell');
  const cell = cells.nth((await cells.count()) - 1);
  await cell.locator('.cm-content').click();
  await page.keyboard.type(code);
  await page.keyboard.press('Shift+Enter');
  const output = cell.locator('.jp-OutputArea-output');
  await expect(output).not.toHaveCount(0);
  await expect(cell.locator('.jp-InputPrompt')).toHaveText(/\[\d+\]:/);
  return (await output.allTextContents()).join('').trim();
}

/** Clicks Run for a profile; returns the new session's card (pinned by id) and id. */
async function runOn(panel: Locator, site: string, profile: string): Promise<[Locator, string]> {
  const cards = panel.locator('[data-testid="interlink-sessions"] > li');
  const before = await cards.count();
  await panel.getByTestId(`interlink-run-${site}-${profile}`).click();
  await expect(cards).toHaveCount(before + 1);
  const id = await cardId(cards.first());
  return [panel.getByTestId(`interlink-session-${id}`), id];
}

function newestCard(panel: Locator): Locator {
  return panel.locator('[data-testid="interlink-sessions"] > li').first();
}

async function cardId(card: Locator): Promise<string> {
  return (await card.getAttribute('data-testid'))!.replace('interlink-session-', '');
}

/** Sessions of one test end with it; no notebook is left for the next page to restore. */
test.afterEach(async ({ lab: page }) => {
  const sessions = await (
    await page.request.get('/interlink/api/sessions', { headers: auth })
  ).json();
  for (const s of sessions as { id: string; state: string }[]) {
    if (!['completed', 'failed', 'cancelled', 'expired', 'stopping'].includes(s.state)) {
      await page.request.delete(`/interlink/api/sessions/${s.id}`, { headers: auth });
    }
  }
  const saved = page
    .waitForResponse(r => r.url().includes('/api/workspaces') && r.request().method() === 'PUT', {
      timeout: 10_000
    })
    .catch(() => undefined);
  await page.evaluate(() => {
    const app = (window as unknown as { jupyterapp: App }).jupyterapp;
    for (const widget of [...app.shell.widgets('main')]) {
      if (widget.context) {
        widget.context.model.dirty = false;
      }
      widget.close();
    }
  });
  await saved;
});

test('the notebook toolbar launches a session and switches this notebook to it when ready', async ({
  lab: page
}, testInfo) => {
  const notebook = await newNotebook(page);
  await notebook.getByTestId('interlink-notebook-run').click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Run this notebook remotely');
  const select = dialog.locator('select');
  const option = select.locator('option', { hasText: /^This machine · Small/ });
  await select.selectOption({ label: (await option.textContent())! });
  await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();

  // Notifications follow the session; the notebook switches by itself once it is ready.
  await expect(page.locator('.Toastify__toast', { hasText: 'This machine' }).first()).toBeVisible();
  await expect(notebook.locator('.jp-Toolbar-kernelName')).toContainText('— This machine', {
    timeout: 60_000
  });
  await expect(page.locator('.Toastify__toast', { hasText: 'is ready' })).toBeVisible();
  await shot(page, testInfo, 'toolbar-run-ready');
  const panel = await openSites(page);
  const id = await cardId(newestCard(panel));
  expect(await run(page, notebook, "import os; print(os.environ['INTERLINK_SESSION_ID'])")).toBe(
    id
  );
});

test('Run on <site> from the launcher and the command palette', async ({ lab: page }) => {
  const panel = await openSites(page);
  const cards = panel.locator('[data-testid="interlink-sessions"] > li');
  const before = await cards.count();

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
  await command(page, 'apputils:activate-command-palette');
  const palette = page.locator('#modal-command-palette');
  await expect(palette).toBeVisible();
  // Fill the search box itself: keys typed before it has focus would be lost.
  await palette.locator('input').fill('Run on This machine');
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
  const [first, firstId] = await runOn(panel, 'local', 'small');
  const [second, secondId] = await runOn(panel, 'local', 'medium');
  await expect(first).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(second).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });

  const local = await newNotebook(page);
  const a = await newNotebook(page);
  await first.getByTestId('interlink-use').click();
  await expect(a.locator('.jp-Toolbar-kernelName')).toContainText('— This machine · Small');
  const b = await newNotebook(page);
  await second.getByTestId('interlink-use').click();
  await expect(b.locator('.jp-Toolbar-kernelName')).toContainText('— This machine · Medium');

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
  await command(page, 'apputils:change-theme', { theme: 'JupyterLab Dark' });
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-name', 'JupyterLab Dark');
  await shot(page, testInfo, 'three-kernels-dark');
  await command(page, 'apputils:change-theme', { theme: 'JupyterLab Light' });
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-name', 'JupyterLab Light');
});

test('logs follow in the main area; a reload keeps the notebook on its remote kernel', async ({
  lab: page
}, testInfo) => {
  const notebook = await newNotebook(page);
  const panel = await openSites(page);
  const [card, id] = await runOn(panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await card.getByTestId('interlink-use').click();
  await expect(notebook.locator('.jp-Toolbar-kernelName')).toContainText('— This machine');
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

  await page.reload();
  await page.locator('#jp-main-dock-panel').waitFor({ state: 'attached' });
  const restored = page.locator('.jp-NotebookPanel');
  await expect(restored).toHaveCount(1);
  await activate(page, restored);
  await expect(restored.locator('.jp-Toolbar-kernelName')).toContainText('— This machine');
  // Same kernel: the variable from before the reload is still there.
  expect(await run(page, restored, 'print(x + 1)')).toBe('42');
});

test('a warning before the walltime ends saves the notebooks using that kernel', async ({
  lab: page
}, testInfo) => {
  // Warn 24 hours ahead, so a one-hour session is warned about at once.
  await page.request.put('/lab/api/settings/@jupyterlab-interlink/extension:plugin', {
    headers: auth,
    data: { raw: '{ "walltimeWarningMinutes": 1440 }' }
  });
  await page.reload();
  await page.locator('#jp-main-dock-panel').waitFor({ state: 'attached' });
  try {
    const notebook = await newNotebook(page);
    const panel = await openSites(page);
    const [card] = await runOn(panel, 'local', 'small');
    await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
    await card.getByTestId('interlink-use').click();
    await expect(notebook.locator('.jp-Toolbar-kernelName')).toContainText('— This machine');
    await run(page, notebook, 'print(1)');
    const tab = page.locator(
      `.lm-DockPanel-tabBar li[data-id="${await notebook.getAttribute('id')}"]`
    );
    await expect(tab).toHaveClass(/jp-mod-dirty/);

    await expect(page.locator('.Toastify__toast', { hasText: 'ends in' })).toBeVisible({
      timeout: 30_000
    });
    await expect(page.locator('.Toastify__toast', { hasText: 'ends in' })).toContainText('saved');
    await expect(tab).not.toHaveClass(/jp-mod-dirty/);
    await shot(page, testInfo, 'walltime-warning');
  } finally {
    await page.request.put('/lab/api/settings/@jupyterlab-interlink/extension:plugin', {
      headers: auth,
      data: { raw: '{}' }
    });
  }
});
