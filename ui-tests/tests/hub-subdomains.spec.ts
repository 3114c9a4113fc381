/**
 * A real JupyterHub 6 with `subdomain_host`: every user's server on an origin of its own
 * (alice.hub.localhost, bob.hub.localhost), the service on another. Alice's JupyterLab reaches
 * the service through her own server (`/user/alice/interlink/`, jupyterlab_interlink/frontdoor.py
 * with hubservice.py), launches on the local site and runs a remote kernel. Then a page of bob's
 * origin, open in alice's signed-in browser, tries what the issue names: list, launch and stop
 * her sessions, follow her events and open her kernel's WebSocket, through her server and through
 * the service's own origin. Each try must fail, and her sessions must stay as they were.
 *
 * Bob's page is his real JupyterLab, on his real server, which he shares with alice through the
 * hub (JupyterHub's sharing): what it runs in her browser runs on bob's origin, as any script bob
 * puts in his pages (an extension, a notebook's output, a web app) would.
 */
import { writeFile } from 'node:fs/promises';
import { expect, test, type Page } from '@playwright/test';
import { signInToLab, useHub } from '../hub';
import { cardId, expectKernel, newNotebook, openSites, run, sessionCards, shot } from '../helpers';

test.describe.configure({ mode: 'serial' });
const hub = useHub(['--subdomains']);

/** The origin a name gets on this hub (same scheme and port as the hub's). */
function originOf(name: string): string {
  const url = new URL(hub.url);
  url.hostname = `${name}.${url.hostname}`;
  return url.origin;
}

/** Calls the hub's REST API as `token`; the answer's JSON. */
async function hubApi(path: string, token: string, init: RequestInit = {}): Promise<unknown> {
  const res = await fetch(`${hub.api}${path}`, {
    ...init,
    headers: { authorization: `token ${token}`, 'content-type': 'application/json' }
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Bob's server runs, shared with alice (the hub's sharing, here by the admin's token). */
async function bobSharesHisServer(): Promise<void> {
  await hubApi('/users/bob/server', hub.adminToken, { method: 'POST' });
  await expect
    .poll(
      async () =>
        (
          (await hubApi('/users/bob', hub.adminToken)) as {
            servers?: Record<string, { ready: boolean }>;
          }
        ).servers?.['']?.ready,
      { timeout: 90_000 }
    )
    .toBe(true);
  await hubApi('/shares/bob/', hub.adminToken, {
    method: 'POST',
    body: JSON.stringify({ user: 'alice' })
  });
}

/** What a page of bob's origin gets when it tries each thing, in alice's browser. */
async function bobTries(
  page: Page,
  targets: { front: string; service: string; kernelSocket: string; sessionId: string }
): Promise<Record<string, string>> {
  const bob = originOf('bob');
  await page.goto(`${bob}/user/bob/lab`);
  // The hub asks alice once whether bob's server may know who she is.
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL(`${bob}/user/bob/lab**`, { timeout: 60_000 });
  expect(await page.evaluate(() => location.origin)).toBe(bob);
  return page.evaluate(async ({ front, service, kernelSocket, sessionId }) => {
    const outcome: Record<string, string> = {};
    const attempt = async (name: string, request: () => Promise<Response>) => {
      try {
        const res = await request();
        // An opaque answer (no-cors) has status 0 and no body: nothing learnt, and whether it
        // changed anything is checked on alice's side afterwards.
        outcome[name] = res.type === 'opaque' ? 'opaque' : `${res.status} ${await res.text()}`;
      } catch (err) {
        outcome[name] = `refused: ${(err as Error).name}`;
      }
    };
    for (const [where, base] of [
      ['front', front],
      ['service', service]
    ]) {
      await attempt(`${where} list`, () =>
        fetch(`${base}api/sessions`, { credentials: 'include' })
      );
      // A form-like POST needs no preflight: the browser sends it, cookies and all.
      await attempt(`${where} launch`, () =>
        fetch(`${base}api/sessions`, {
          method: 'POST',
          mode: 'no-cors',
          credentials: 'include',
          headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ site: 'local', profile: 'small', kind: 'kernel' })
        })
      );
      await attempt(`${where} stop`, () =>
        fetch(`${base}api/sessions/${sessionId}`, {
          method: 'DELETE',
          credentials: 'include'
        })
      );
      outcome[`${where} events`] = await new Promise<string>(resolve => {
        const events = new EventSource(`${base}api/events`, { withCredentials: true });
        events.onopen = () => resolve('open');
        events.onerror = () => resolve('refused');
        setTimeout(() => resolve('timeout'), 10_000);
      }).then(result => result);
    }
    for (const [where, url] of [
      ['front', kernelSocket],
      [
        'service',
        kernelSocket.replace(
          /^ws:\/\/[^/]+\/user\/alice\/interlink\//,
          service.replace(/^http/, 'ws')
        )
      ]
    ]) {
      outcome[`${where} kernel socket`] = await new Promise<string>(resolve => {
        const ws = new WebSocket(url);
        ws.onopen = () => {
          ws.close();
          resolve('open');
        };
        ws.onclose = () => resolve('refused');
        setTimeout(() => resolve('timeout'), 10_000);
      });
    }
    return outcome;
  }, targets);
}

test('on a hub with subdomains, alice runs a remote kernel and a page of bob cannot touch it', async ({
  page,
  context
}, testInfo) => {
  testInfo.setTimeout(300_000);
  const alice = originOf('alice');
  const lines: string[] = [];
  const sockets: string[] = [];
  page.on('console', msg => lines.push(`[${msg.type()}] ${msg.text()}`));
  page.on('pageerror', err => lines.push(`[pageerror] ${err.stack ?? err.message}`));
  page.on('response', res => {
    if (res.status() >= 300)
      lines.push(`[http ${res.status()}] ${res.request().method()} ${res.url()}`);
  });
  page.on('websocket', ws => sockets.push(ws.url()));
  try {
    // Her server, on her own origin.
    await signInToLab(page, hub, 'alice', `${alice}/user/alice/lab**`);

    const panel = await openSites(page);
    const site = panel.getByTestId('interlink-site-local');
    await expect(site).toContainText('This machine', { timeout: 60_000 });
    await expect(site.locator('.jp-InterlinkHealth')).toHaveText('Available');
    await expect(panel.getByTestId('interlink-stream-status')).toHaveText('live');

    const notebook = await newNotebook(page);
    await panel.getByTestId('interlink-run-local-small').click();
    const card = sessionCards(panel).first();
    await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 90_000 });
    const id = await cardId(card);
    await card.getByTestId('interlink-use').click();
    await expectKernel(notebook, '— This machine');
    const remote = await run(
      page,
      notebook,
      "import os; print(os.environ['INTERLINK_SESSION_ID'], os.environ.get('JUPYTERHUB_USER'))"
    );
    expect(remote.trim().split(/\s+/)).toEqual([id, 'alice']);
    // Her kernel's WebSocket goes to her own server, which fronts the service.
    const kernelSocket = sockets.find(u =>
      u.startsWith(
        `${alice.replace(/^http/, 'ws')}/user/alice/interlink/sessions/${id}/api/kernels/`
      )
    );
    expect(kernelSocket, sockets.join('\n')).toBeTruthy();
    await shot(page, testInfo, 'subdomains-alice-remote-kernel');

    // The control: from her own origin, her cookie (with the XSRF token her pages can read, as
    // JupyterLab sends it) does list her sessions.
    const own = await page.evaluate(async () => {
      const xsrf = /(?:^|; )_xsrf=([^;]*)/.exec(document.cookie)?.[1] ?? '';
      const res = await fetch('/user/alice/interlink/api/sessions', {
        headers: { 'X-XSRFToken': decodeURIComponent(xsrf) }
      });
      return { status: res.status, count: ((await res.json()) as unknown[]).length };
    });
    expect(own).toEqual({ status: 200, count: 1 });

    // Alice once opened the service's own address (a link, a bookmark): its sign-in left its
    // cookie in her browser, for bob's page to try.
    const service = `${originOf('interlink--service')}/services/interlink/`;
    const direct = await context.newPage();
    await direct.goto(`${service}api/sites`);
    await expect(direct.locator('body')).toContainText('"local"');
    await direct.close();

    // A page of bob's origin in the same browser, signed in as alice everywhere.
    await bobSharesHisServer();
    const bobPage = await context.newPage();
    const launches: string[] = [];
    bobPage.on('console', msg => lines.push(`[bob ${msg.type()}] ${msg.text()}`));
    bobPage.on('requestfailed', req =>
      lines.push(`[bob failed] ${req.method()} ${req.url()} ${req.failure()?.errorText}`)
    );
    bobPage.on('response', res => {
      lines.push(`[bob ${res.status()}] ${res.request().method()} ${res.url()}`);
      if (res.request().method() === 'POST' && res.url().endsWith('/api/sessions')) {
        launches.push(`${res.url().startsWith(service) ? 'service' : 'front'} ${res.status()}`);
      }
    });
    const outcome = await bobTries(bobPage, {
      front: `${alice}/user/alice/interlink/`,
      service,
      kernelSocket: kernelSocket!,
      sessionId: id
    });
    await writeFile(testInfo.outputPath('bob-outcome.json'), JSON.stringify(outcome, null, 2));
    for (const where of ['front', 'service']) {
      expect(outcome[`${where} list`], where).toMatch(/^refused|^40[34]/);
      expect(outcome[`${where} stop`], where).toMatch(/^refused|^40[34]/);
      expect(outcome[`${where} events`], where).toBe('refused');
      expect(outcome[`${where} kernel socket`], where).toBe('refused');
    }
    // The launches the browser did send (no-cors) were answered with refusals.
    expect(launches.sort()).toEqual([
      expect.stringMatching(/^front 40[34]$/),
      expect.stringMatching(/^service 40[13]$/)
    ]);
    await bobPage.close();

    // Nothing launched and nothing stopped: alice still has her one session, ready, and her
    // kernel still answers.
    await page.waitForTimeout(2_000);
    await expect(sessionCards(panel)).toHaveCount(1);
    await expect(card).toHaveAttribute('data-state', 'ready');
    expect(await run(page, notebook, 'print(6 * 7)')).toBe('42');

    // Leave nothing running.
    await card.getByTestId('interlink-stop').click();
    await page.locator('.jp-Dialog').getByRole('button', { name: 'Stop', exact: true }).click();
    await expect(card).toHaveAttribute('data-state', /cancelled|completed/, { timeout: 30_000 });
  } finally {
    await writeFile(testInfo.outputPath('console.txt'), lines.join('\n') + '\n');
  }
});
