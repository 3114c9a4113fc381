/**
 * The Remote sites panel and remote kernels in notebooks, against the proxy server's embedded
 * `local` site (sessions run as local processes, reached through the tunnel).
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

// The next test starts from a fresh page on the same server: leave no notebook for it to restore
// (one whose remote kernel has ended would open with JupyterLab's "Select Kernel" dialog).
test.afterEach(async ({ lab: page }) => {
  const saved = page
    .waitForResponse(r => r.url().includes('/api/workspaces') && r.request().method() === 'PUT', {
      timeout: 10_000
    })
    .catch(() => undefined);
  await page.evaluate(async () => {
    type Doc = { context?: { model: { dirty: boolean } }; close(): void };
    const app = (
      window as unknown as { jupyterapp: { shell: { widgets(a: string): Iterable<Doc> } } }
    ).jupyterapp;
    for (const widget of [...app.shell.widgets('main')]) {
      if (widget.context) {
        widget.context.model.dirty = false;
      }
      widget.close();
    }
  });
  await saved;
});

async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const body = await page.screenshot();
  await testInfo.attach(name, { body, contentType: 'image/png' });
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`) });
}

async function setTheme(page: Page, theme: 'JupyterLab Light' | 'JupyterLab Dark'): Promise<void> {
  await page.evaluate(async t => {
    const app = (
      window as unknown as { jupyterapp: { commands: { execute(id: string, a: object): unknown } } }
    ).jupyterapp;
    await app.commands.execute('apputils:change-theme', { theme: t });
  }, theme);
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-name', theme);
}

/** Opens the sidebar the way a user does: its tab in the left bar. */
async function openSites(page: Page): Promise<Locator> {
  const panel = page.getByTestId('interlink-sites-panel');
  if (!(await panel.isVisible())) {
    await page.locator('.jp-SideBar.jp-mod-left [title="Remote sites"]').click();
  }
  await expect(panel).toBeVisible();
  return panel;
}

/** A fresh notebook on the local Python kernel, from the launcher. */
async function newNotebook(page: Page): Promise<Locator> {
  await page.evaluate(async () => {
    const app = (
      window as unknown as {
        jupyterapp: { commands: { execute(id: string, a?: object): unknown } };
      }
    ).jupyterapp;
    await app.commands.execute('launcher:create');
  });
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
  return notebook;
}

/** Types code in the last cell, runs it, returns the output text. */
async function run(page: Page, notebook: Locator, code: string): Promise<string> {
  const cells = notebook.locator('.jp-Cell');
  // Running the last cell appends a new one: hold on to this one by position.
  const cell = cells.nth((await cells.count()) - 1);
  await cell.locator('.cm-content').click();
  await page.keyboard.type(code);
  await page.keyboard.press('Shift+Enter');
  const output = cell.locator('.jp-OutputArea-output');
  await expect(output).not.toHaveCount(0);
  await expect(cell.locator('.jp-InputPrompt')).toHaveText(/\[\d+\]:/);
  return (await output.allTextContents()).join('');
}

/** Clicks Run for a profile and returns the new session's card and id. */
async function runOn(
  page: Page,
  panel: Locator,
  site: string,
  profile: string
): Promise<{ card: Locator; id: string }> {
  const before = await panel.locator('[data-testid="interlink-sessions"] > li').count();
  await panel.getByTestId(`interlink-run-${site}-${profile}`).click();
  const cards = panel.locator('[data-testid="interlink-sessions"] > li');
  await expect(cards).toHaveCount(before + 1);
  // Newest first.
  const testId = (await cards.first().getAttribute('data-testid'))!;
  const card = panel.getByTestId(testId);
  return { card, id: testId.replace('interlink-session-', '') };
}

async function pickKernel(
  page: Page,
  notebook: Locator,
  label: string | RegExp,
  screenshot?: () => Promise<void>
): Promise<void> {
  await notebook.locator('.jp-Toolbar-kernelName').click();
  const dialog = page.locator('.jp-Dialog');
  const select = dialog.locator('select');
  const option = select.locator('option', { hasText: label });
  await expect(option).toHaveCount(1);
  await select.selectOption({ label: (await option.textContent())! });
  await screenshot?.();
  await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();
  await expect(dialog).toHaveCount(0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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
  const localPid = (await run(page, notebook, 'import os; print(os.getpid())')).trim();

  const panel = await openSites(page);
  const { card, id } = await runOn(page, panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await expect(card.getByTestId('interlink-session-time')).toContainText('left');
  await shot(page, testInfo, 'session-ready');

  await card.getByTestId('interlink-use').click();
  await expect(notebook.locator('.jp-Toolbar-kernelName')).toContainText('— This machine');
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
  await expect(notebook.locator('.jp-Toolbar-kernelName')).toHaveText('Python 3 (ipykernel)');
  expect(
    (await run(page, notebook, "import os; print(os.environ.get('INTERLINK_SESSION_ID'))")).trim()
  ).toBe('None');
  await pickKernel(page, notebook, '— This machine', () => shot(page, testInfo, 'kernel-picker'));
  expect(
    (await run(page, notebook, "import os; print(os.environ.get('INTERLINK_SESSION_ID'))")).trim()
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
  const { card, id } = await runOn(page, panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  await card.getByTestId('interlink-use').click();
  await expect(notebook.locator('.jp-Toolbar-kernelName')).toContainText('— This machine');
  expect((await run(page, notebook, 'print(6*7)')).trim()).toBe('42');

  const session = await (
    await page.request.get(`/interlink/api/sessions/${id}`, { headers: auth })
  ).json();
  test.skip(!/^\d+$/.test(session.backendId ?? ''), 'the local driver reports a process id');
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
  await expect(page.locator('.Toastify__toast', { hasText: 'failed' })).toContainText('failed');
  await shot(page, testInfo, 'session-failed');
});
