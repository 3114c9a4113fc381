/**
 * Remote files: a ready session's own files in a file browser of their own (its remote server's
 * contents, through the tunnel); a file opened there is edited and saved on the remote side, and
 * the browser goes when the session does. On the local site the remote side is this machine, so
 * the test reads what was saved straight from the disk.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '../fixtures';
import { notebookDir, token } from '../frontdoor';
import { cleanUp, openSites, runOn, shot } from '../helpers';

test.describe.configure({ mode: 'serial', timeout: 180_000 });

const auth = { Authorization: `token ${token}` };

test.afterEach(async ({ lab: page }) => cleanUp(page, page.request, auth));

test('a session’s files open, edit and save through its own file browser, which ends with it', async ({
  lab: page
}, testInfo) => {
  const name = `remote-${randomBytes(4).toString('hex')}.txt`;
  writeFileSync(join(notebookDir, name), 'first line\n');
  const panel = await openSites(page);
  const { card, id } = await runOn(panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });

  await card.getByTestId('interlink-files').click();
  const browser = page.getByTestId(`interlink-files-${id}`);
  await expect(browser).toBeVisible();
  const item = browser.locator('.jp-DirListing-item', { hasText: name });
  await expect(item).toBeVisible();
  await shot(page, testInfo, 'remote-files');
  await item.dblclick();

  // The editor holds the remote drive's document.
  const path = await page.evaluate(() => {
    const app = (window as unknown as { jupyterapp: { shell: { currentWidget: unknown } } })
      .jupyterapp;
    return (app.shell.currentWidget as { context?: { path: string } }).context?.path;
  });
  expect(path).toBe(`interlink-${id}:${name}`);
  const editor = page.locator('.jp-FileEditor .cm-content');
  await expect(editor).toContainText('first line');
  await editor.click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('written through the tunnel');
  await page.keyboard.press('Control+s');
  await expect
    .poll(() => readFileSync(join(notebookDir, name), 'utf8'))
    .toBe('first line\nwritten through the tunnel');

  // Stopped: its file browser goes with it.
  await openSites(page);
  await card.getByTestId('interlink-stop').click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(browser).toHaveCount(0, { timeout: 30_000 });
});
