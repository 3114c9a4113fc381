/**
 * A web app in a job (what TensorBoard or a Dask dashboard is to users): a kernel session
 * launched with a port, the app started from its notebook under the prefix the job's
 * environment gives, opened from the launcher in a new tab, its WebSocket reached through the
 * proxy; an undeclared port is refused.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, test } from '../fixtures';
import { repoRoot } from '../frontdoor';
import {
  command,
  expectKernel,
  newNotebook,
  openSites,
  run,
  sessionCards,
  shot,
  launchesSessions
} from '../helpers';

launchesSessions();

const PORT_APP = join(repoRoot, 'proxy-server/dist/testing/port-app.js');

function freePort(): Promise<number> {
  return new Promise(resolve => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test('a declared port serves the web app in the job, from the launcher, HTTP and WebSocket', async ({
  lab: page
}, testInfo) => {
  const port = await freePort();
  const panel = await openSites(page);
  await panel.getByTestId('interlink-configure-local-small').click();
  const form = panel.getByTestId('interlink-launch-form');
  await form.getByTestId('interlink-field-ports').fill(String(port));
  await form.getByTestId('interlink-launch').click();
  const card = sessionCards(panel).first();
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  const id = (await card.getAttribute('data-testid'))!.replace('interlink-session-', '');
  await expect(card.getByTestId(`interlink-port-${port}`)).toHaveAttribute(
    'href',
    `/interlink/sessions/${id}/ports/${port}/`
  );

  // The user starts the app from a notebook on the session's kernel, under the job's prefix.
  const notebook = await newNotebook(page);
  await card.getByTestId('interlink-use').click();
  await expectKernel(notebook, '— This machine');
  const prefix = await run(
    page,
    notebook,
    `import os, subprocess; app = subprocess.Popen([${JSON.stringify(process.execPath)}, ` +
      `${JSON.stringify(PORT_APP)}, '${port}']); print(os.environ['INTERLINK_PORT_PREFIX_${port}'])`
  );
  expect(prefix).toBe(`/interlink/sessions/${id}/ports/${port}`);

  // The launcher lists the app; its card opens it in a new tab.
  await command(page, 'launcher:create');
  const launcherCard = page.locator('.jp-Launcher:visible .jp-LauncherCard', {
    hasText: `Port ${port}`
  });
  await launcherCard.scrollIntoViewIfNeeded();
  await expect(launcherCard).toBeVisible();
  await shot(page, testInfo, 'web-app-in-launcher');
  let tab: Page = page;
  await expect
    .poll(
      async () => {
        const opening = page.context().waitForEvent('page', { timeout: 5_000 });
        await launcherCard.click();
        tab = await opening;
        await tab.waitForLoadState();
        // The app may still be starting: a 502 until it listens.
        const text =
          (await tab
            .locator('#page')
            .textContent({ timeout: 1_000 })
            .catch(() => null)) ?? '';
        if (!text) await tab.close();
        return text;
      },
      { timeout: 30_000 }
    )
    .toContain('"app":"port-app"');
  const seen = JSON.parse((await tab.locator('#page').textContent())!);
  expect(seen.prefix).toBe(`/interlink/sessions/${id}/ports/${port}`);
  expect(seen.session).toBe(id);
  expect(seen.authorization).toBeNull(); // the app never gets the user's or Jupyter's token
  // Sandboxed (the default): the page runs in an opaque origin, so its own WebSocket back to
  // the proxy is cross-origin and refused — the trade-off docs/security.md describes.
  await expect(tab.locator('body')).toHaveAttribute('data-echo', 'error');
  await shot(tab, testInfo, 'web-app-page');
  await tab.close();

  // From JupyterLab's own origin the app's WebSocket goes through the proxy and the tunnel.
  const echo = await page.evaluate(
    url =>
      new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onopen = () => ws.send('ping');
        ws.onmessage = e => resolve(String(e.data));
        ws.onerror = () => reject(new Error('refused'));
      }),
    `${page.url().replace(/^http/, 'ws').split('/lab')[0]}/interlink/sessions/${id}/ports/${port}/echo`
  );
  expect(echo).toBe('echo: ping');

  // A port the session did not declare is refused, with the declared ones named.
  const undeclared = await page.request.get(`/interlink/sessions/${id}/ports/${port + 1}/`);
  expect(undeclared.status()).toBe(404);
  expect((await undeclared.json()).message).toContain(`declared: ${port}`);
});
