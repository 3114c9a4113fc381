/**
 * The steps the specs share: how a user opens the Remote sites panel, starts a notebook, runs a
 * cell, launches a session and picks a kernel, plus the clean-up between tests.
 */
import type { APIRequestContext, Locator, Page, TestInfo } from '@playwright/test';
import { expect, test } from './fixtures';
import { token } from './frontdoor';

type Widget = {
  id: string;
  context?: { model: { dirty: boolean } };
  sessionContext?: { kernelDisplayName: string };
  close(): void;
};
type App = {
  commands: { execute(id: string, args?: object): Promise<unknown> };
  shell: { widgets(area: string): Iterable<Widget> };
};

const FINAL = ['completed', 'failed', 'cancelled', 'expired'];

/** Attaches a screenshot to the test's results and keeps it as a file in its output folder. */
export async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const body = await page.screenshot();
  await testInfo.attach(name, { body, contentType: 'image/png' });
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`) });
}

/** Runs a JupyterLab command in the page; its result (often a widget) stays there. */
export async function command(page: Page, id: string, args: object = {}): Promise<void> {
  await page.evaluate(
    async ([id, args]) => {
      await (window as unknown as { jupyterapp: App }).jupyterapp.commands.execute(id, args);
    },
    [id, args] as const
  );
}

export async function setTheme(
  page: Page,
  theme: 'JupyterLab Light' | 'JupyterLab Dark'
): Promise<void> {
  await command(page, 'apputils:change-theme', { theme });
  await expect(page.locator('body')).toHaveAttribute('data-jp-theme-name', theme);
}

/** Opens the sidebar the way a user does: its tab in the left bar. */
export async function openSites(page: Page): Promise<Locator> {
  const panel = page.getByTestId('interlink-sites-panel');
  if (!(await panel.isVisible())) {
    await page.locator('.jp-SideBar.jp-mod-left [title="Remote sites"]').click();
  }
  await expect(panel).toBeVisible();
  return panel;
}

/** A fresh notebook on the local Python kernel, from the launcher; pinned by its id. */
export async function newNotebook(page: Page): Promise<Locator> {
  await command(page, 'launcher:create');
  await page
    .locator('.jp-Launcher:visible .jp-LauncherCard[data-category="Notebook"]', {
      hasText: /^Python 3 \(ipykernel\)$/
    })
    .click();
  const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  await expectKernel(notebook, /^Python 3 \(ipykernel\)$/);
  await expect(notebook.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
    'data-status',
    'idle',
    { timeout: 60_000 }
  );
  // The same notebook, whichever tab is active later.
  const id = await notebook.getAttribute('id');
  return page.locator(`.jp-NotebookPanel[id="${id}"]`);
}

/**
 * The name of the kernel a notebook runs on, as JupyterLab shows it (toolbar, status bar): read
 * from the notebook itself, since a long remote kernel name moves the toolbar's kernel button
 * into its overflow menu, where a stale copy may linger.
 */
export async function kernelName(notebook: Locator): Promise<string> {
  const id = await notebook.getAttribute('id');
  return notebook.page().evaluate(id => {
    const app = (window as unknown as { jupyterapp: App }).jupyterapp;
    const widget = [...app.shell.widgets('main')].find(w => w.id === id);
    return widget?.sessionContext?.kernelDisplayName ?? '';
  }, id);
}

/** Waits until the notebook's kernel name contains `text` (or equals it, for a RegExp match). */
export async function expectKernel(notebook: Locator, text: string | RegExp): Promise<void> {
  const poll = expect.poll(() => kernelName(notebook), { timeout: 60_000 });
  await (typeof text === 'string' ? poll.toContain(text) : poll.toMatch(text));
}

/** Brings a notebook's tab to the front. */
export async function activate(page: Page, notebook: Locator): Promise<void> {
  const id = await notebook.getAttribute('id');
  await page.locator(`.lm-DockPanel-tabBar li[data-id="${id}"]`).click();
  await expect(notebook).toBeVisible();
}

/** Types code in the last cell, runs it, returns the output text, trimmed. */
export async function run(page: Page, notebook: Locator, code: string): Promise<string> {
  const cells = notebook.locator('.jp-Cell');
  // Running the last cell appends a new one: hold on to this one by position.
  const cell = cells.nth((await cells.count()) - 1);
  await cell.locator('.cm-content').click();
  await page.keyboard.type(code);
  await page.keyboard.press('Shift+Enter');
  const output = cell.locator('.jp-OutputArea-output');
  await expect(output).not.toHaveCount(0, { timeout: 60_000 });
  await expect(cell.locator('.jp-InputPrompt')).toHaveText(/\[\d+\]:/);
  return (await output.allTextContents()).join('').trim();
}

/** The session cards of the panel, newest first. */
export function sessionCards(panel: Locator): Locator {
  return panel.locator('[data-testid="interlink-sessions"] > li');
}

export async function cardId(card: Locator): Promise<string> {
  return (await card.getAttribute('data-testid'))!.replace('interlink-session-', '');
}

/**
 * How many sessions the panel lists, once it lists all the caller has: right after the page
 * loads, the list may not have arrived yet.
 */
export async function listedSessions(panel: Locator, base = '/interlink'): Promise<number> {
  const response = await panel
    .page()
    .request.get(`${base}/api/sessions`, { headers: { Authorization: `token ${token}` } });
  const count = ((await response.json()) as unknown[]).length;
  await expect(sessionCards(panel)).toHaveCount(count);
  return count;
}

/** Clicks Run for a profile; returns the new session's card (pinned by id) and its id. */
export async function runOn(
  panel: Locator,
  site: string,
  profile: string
): Promise<{ card: Locator; id: string }> {
  const cards = sessionCards(panel);
  const before = await listedSessions(panel);
  await panel.getByTestId(`interlink-run-${site}-${profile}`).click();
  await expect(cards).toHaveCount(before + 1);
  const id = await cardId(cards.first());
  return { card: panel.getByTestId(`interlink-session-${id}`), id };
}

/** Answers a dialog that asks for one item of a list (JupyterLab's InputDialog.getItem). */
export async function chooseInDialog(page: Page, title: string, option: RegExp): Promise<void> {
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText(title);
  const select = dialog.locator('select');
  const label = await select.locator('option', { hasText: option }).textContent();
  await select.selectOption({ label: label! });
  await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();
}

/** Picks a kernel in JupyterLab's own kernel dialog, by the label of its option. */
export async function pickKernel(
  page: Page,
  notebook: Locator,
  label: string | RegExp,
  screenshot?: () => Promise<void>
): Promise<void> {
  // Kernel → Change Kernel…, as from the menu (the toolbar's button may sit in its overflow).
  await activate(page, notebook);
  // Not awaited in the page: the command resolves only once the dialog is answered.
  await page.evaluate(() => {
    void (window as unknown as { jupyterapp: App }).jupyterapp.commands.execute(
      'notebook:change-kernel'
    );
  });
  const dialog = page.locator('.jp-Dialog');
  const select = dialog.locator('select');
  const option = select.locator('option', { hasText: label });
  await expect(option).toHaveCount(1);
  await select.selectOption({ label: (await option.textContent())! });
  await screenshot?.();
  await dialog.locator('.jp-Dialog-button.jp-mod-accept').click();
  await expect(dialog).toHaveCount(0);
}

/** Whether a process of this machine is still alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Leaves the server as the next test expects it: no notebook in the saved workspace for the next
 * page to restore (one whose remote kernel has ended would open with JupyterLab's "Select Kernel"
 * dialog over everything), and every session of this test ended and settled, so no late state
 * change lands in the next test's page.
 */
export async function cleanUp(
  page: Page,
  request: APIRequestContext,
  headers: Record<string, string>,
  base = '/interlink'
): Promise<void> {
  await page.evaluate(() => {
    const app = (window as unknown as { jupyterapp: App }).jupyterapp;
    for (const widget of [...app.shell.widgets('main')]) {
      if (widget.context) {
        widget.context.model.dirty = false;
      }
      widget.close();
    }
  });
  // The workspace is saved a moment later, and an earlier save may still be on its way: wait
  // for the one without notebooks rather than for any save.
  await expect
    .poll(
      async () => {
        const workspace = await request.get('/lab/api/workspaces/default', { headers });
        return JSON.stringify(await workspace.json()).includes('"notebook:');
      },
      { timeout: 15_000 }
    )
    .toBe(false);

  const live = async (): Promise<{ id: string; state: string }[]> => {
    const sessions = (await (await request.get(`${base}/api/sessions`, { headers })).json()) as {
      id: string;
      state: string;
    }[];
    return sessions.filter(s => !FINAL.includes(s.state));
  };
  for (const s of await live()) {
    if (s.state !== 'stopping') {
      await request.delete(`${base}/api/sessions/${s.id}`, { headers });
    }
  }
  await expect.poll(async () => (await live()).length, { timeout: 30_000 }).toBe(0);
}

/**
 * For a spec whose tests launch sessions: one test at a time (each starts Jupyter servers on two
 * shared cores), each ending its sessions and notebooks before the next (cleanUp).
 */
export function launchesSessions(): void {
  test.describe.configure({ mode: 'serial', timeout: 180_000 });
  test.afterEach(async ({ lab: page }) =>
    cleanUp(page, page.request, { Authorization: `token ${token}` })
  );
}
