/**
 * Under a real JupyterHub 6 (the project's virtualenv): log in as alice, the stock
 * jupyterhub-singleuser with the wheel installed opens JupyterLab, the Remote sites panel reaches the proxy server at
 * /services/interlink/ through the hub's OAuth (redirects followed by fetch, a cookie set on the
 * way), Run on the local site, and a notebook's remote kernel runs code through the service's
 * cookie-authenticated WebSockets.
 *
 * The hub is started here (../hub.ts), not by the config's webServer, and stopped after the tests.
 */
import { writeFile } from 'node:fs/promises';
import { expect, test } from '@playwright/test';
import { signInToLab, useHub } from '../hub';
import { expectKernel, newNotebook, openSites, run, shot } from '../helpers';

test.describe.configure({ mode: 'serial' });
const hub = useHub();

test('alice logs in to the hub, runs on the local site and uses the remote kernel', async ({
  page
}, testInfo) => {
  testInfo.setTimeout(300_000);
  const lines: string[] = [];
  const sockets: string[] = [];
  page.on('console', msg => lines.push(`[${msg.type()}] ${msg.text()}`));
  page.on('pageerror', err => lines.push(`[pageerror] ${err.stack ?? err.message}`));
  page.on('response', res => {
    const status = res.status();
    if (status >= 300) lines.push(`[http ${status}] ${res.request().method()} ${res.url()}`);
  });
  page.on('websocket', ws => sockets.push(ws.url()));
  const oauth = page.waitForResponse(
    r => r.url().includes('/services/interlink/oauth_callback') && r.status() === 302,
    { timeout: 120_000 }
  );

  try {
    // The hub spawns the single-user server and sends the browser on to its JupyterLab.
    await signInToLab(page, hub, 'alice', /\/user\/alice\/lab/, () =>
      shot(page, testInfo, 'hub-login')
    );
    // The page config carries what JupyterLab's hub plugins need.
    expect(
      await page.evaluate(() => {
        const app = (
          window as unknown as { jupyterapp: { commands: { hasCommand(id: string): boolean } } }
        ).jupyterapp;
        return (
          app.commands.hasCommand('hub:control-panel') && app.commands.hasCommand('hub:logout')
        );
      })
    ).toBe(true);

    const panel = await openSites(page);
    const site = panel.getByTestId('interlink-site-local');
    await expect(site).toContainText('This machine', { timeout: 60_000 });
    await expect(site.locator('.jp-InterlinkHealth')).toHaveText('Available');
    await expect(panel.getByTestId('interlink-stream-status')).toHaveText('live');
    // The sites came through the hub's OAuth: the service's callback answered and left its cookie.
    await oauth;
    const cookies = await page.context().cookies(`${hub.url}/services/interlink/api/sites`);
    expect(cookies.find(c => c.name === 'interlink-hub-session')?.path).toBe(
      '/services/interlink/'
    );
    await shot(page, testInfo, 'hub-sites-panel');

    // A notebook on the single-user server's own kernel first.
    const notebook = await newNotebook(page);
    expect(await run(page, notebook, "import os; print(os.environ.get('JUPYTERHUB_USER'))")).toBe(
      'alice'
    );

    await panel.getByTestId('interlink-run-local-small').click();
    const card = panel.locator('[data-testid="interlink-sessions"] > li').first();
    await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 90_000 });
    const id = (await card.getAttribute('data-testid'))!.replace('interlink-session-', '');
    await shot(page, testInfo, 'hub-session-ready');

    await card.getByTestId('interlink-use').click();
    await expectKernel(notebook, '— This machine');
    await expect(notebook.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
      'data-status',
      'idle',
      { timeout: 60_000 }
    );
    const remote = await run(
      page,
      notebook,
      "import os; print(os.environ['INTERLINK_SESSION_ID'], os.environ.get('JUPYTERHUB_USER'))"
    );
    // Runs in the session's job, which carries alice's hub identity.
    expect(remote.trim().split(/\s+/)).toEqual([id, 'alice']);
    // The kernel's WebSocket went through the service, signed in by its cookie only.
    const kernelSocket = sockets.find(u => u.includes(`/services/interlink/sessions/${id}/`));
    expect(kernelSocket, sockets.join('\n')).toBeTruthy();
    await shot(page, testInfo, 'hub-notebook-on-remote-kernel');

    // Leave nothing running: stop the session as alice (cookie-authenticated DELETE).
    const stopped = await page.evaluate(async sessionId => {
      const res = await fetch(`/services/interlink/api/sessions/${sessionId}`, {
        method: 'DELETE'
      });
      return res.status;
    }, id);
    expect(stopped).toBe(200);
    await expect(card).toHaveAttribute('data-state', /cancelled|completed/, { timeout: 30_000 });
  } finally {
    const file = testInfo.outputPath('console.txt');
    await writeFile(file, lines.join('\n') + '\n');
    await testInfo.attach('console.txt', { path: file, contentType: 'text/plain' });
  }
});
