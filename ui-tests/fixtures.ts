/**
 * `test` with a `lab` fixture: a page with JupyterLab loaded and restored, logged in by token.
 * The browser console of each test is attached to its results (console.txt).
 */
import { writeFile } from 'node:fs/promises';
import { test as base, expect, type Page } from '@playwright/test';
import { token } from './frontdoor';

export { expect };

async function openLab(page: Page): Promise<Page> {
  await page.goto(`/lab?token=${encodeURIComponent(token)}`);
  // JupyterLab's <body> counts as hidden for Playwright: wait for attachment, not visibility.
  await page.locator('#jp-main-dock-panel').waitFor({ state: 'attached' });
  await page.waitForFunction(() => {
    const app = (window as unknown as { jupyterapp?: { restored: Promise<void> } }).jupyterapp;
    return app ? app.restored.then(() => true) : false;
  });
  return page;
}

export const test = base.extend<{ lab: Page }>({
  lab: async ({ page }, use, testInfo) => {
    const lines: string[] = [];
    page.on('console', msg => lines.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', err => lines.push(`[pageerror] ${err.stack ?? err.message}`));
    page.on('response', res => {
      if (res.status() >= 400)
        lines.push(`[http ${res.status()}] ${res.request().method()} ${res.url()}`);
    });
    await use(await openLab(page));
    const file = testInfo.outputPath('console.txt');
    await writeFile(file, lines.join('\n') + '\n');
    await testInfo.attach('console.txt', { path: file, contentType: 'text/plain' });
  }
});
