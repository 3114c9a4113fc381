/**
 * `test` with a `lab` fixture: Galata's JupyterLab page (loaded and restored by Galata), with the
 * browser console of each test attached to its results (console.txt).
 */
import { writeFile } from 'node:fs/promises';
import { expect, test as galata, type IJupyterLabPageFixture } from '@jupyterlab/galata';

export { expect };

export const test = galata.extend<{ lab: IJupyterLabPageFixture }>({
  lab: async ({ page }, use, testInfo) => {
    const lines: string[] = [];
    page.on('console', msg => lines.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', err => lines.push(`[pageerror] ${err.stack ?? err.message}`));
    page.on('response', res => {
      if (res.status() >= 400)
        lines.push(`[http ${res.status()}] ${res.request().method()} ${res.url()}`);
    });
    await use(page);
    const file = testInfo.outputPath('console.txt');
    await writeFile(file, lines.join('\n') + '\n');
    await testInfo.attach('console.txt', { path: file, contentType: 'text/plain' });
  }
});
