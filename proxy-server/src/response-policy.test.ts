// A session's remote server writes pages served from the proxy's origin: they run sandboxed,
// cannot install a service worker there, and their dangerous headers are dropped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Session } from '@jupyterlab-interlink/contract';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { chromium, type Browser } from 'playwright-core';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';
import { SANDBOX_CSP, remoteResponseHeaders } from './response-policy.js';

const TOKEN = 'remote-page-token-0123456789';
const PAGE_SERVER = fileURLToPath(new URL('./testing/remote-page-server.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

describe('remote response headers', () => {
  it('drop service-worker, site-data and CORS headers; add nosniff and the sandbox', () => {
    const out = remoteResponseHeaders({
      'Content-Type': 'text/html',
      'Service-Worker-Allowed': '/',
      'Clear-Site-Data': '"*"',
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'x',
      'content-security-policy': "script-src 'none'"
    });
    assert.deepEqual(out, {
      'content-type': 'text/html',
      'x-content-type-options': 'nosniff',
      'content-security-policy': ["script-src 'none'", SANDBOX_CSP]
    });
    const trusted = remoteResponseHeaders({ 'service-worker-allowed': '/' }, { trusted: true });
    assert.deepEqual(trusted, { 'x-content-type-options': 'nosniff' });
  });
});

/** A proxy with one ready session on the local site, whose remote server is the page server. */
async function proxyWithSession(
  remoteUi: 'sandboxed' | 'trusted' = 'sandboxed'
): Promise<{ server: RunningProxyServer; session: string }> {
  const server = await startProxyServer({
    sites: [{ ...defaultLocalSite(), remoteUi }],
    auth: new TokenAuthenticator(TOKEN, 'alice'),
    logger: createLogger('warn'),
    agentEnv: { INTERLINK_JUPYTER_COMMAND: JSON.stringify([process.execPath, PAGE_SERVER]) }
  });
  const headers = { authorization: `token ${TOKEN}`, 'content-type': 'application/json' };
  const api = `${server.url}/interlink/api`;
  const created = await fetch(`${api}/sessions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel' })
  });
  assert.equal(created.status, 201);
  const { id } = (await created.json()) as Session;
  for (let i = 0; i < 300; i++) {
    const s = (await (await fetch(`${api}/sessions/${id}`, { headers })).json()) as Session;
    if (s.state === 'ready') return { server, session: id };
    assert.ok(
      !['failed', 'completed', 'cancelled'].includes(s.state),
      `session ${s.state}: ${s.reason}`
    );
    await new Promise(r => setTimeout(r, 100));
  }
  assert.fail('the session never became ready');
}

describe('a proxied remote page', { timeout: 180_000 }, () => {
  let browser: Browser;
  let sandboxed: { server: RunningProxyServer; session: string };
  let trusted: { server: RunningProxyServer; session: string };

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `Debian's Chromium is needed at ${CHROMIUM} (scripts/install-system-deps.sh)`
    );
    [sandboxed, trusted] = await Promise.all([proxyWithSession(), proxyWithSession('trusted')]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    });
  });
  after(async () => {
    await browser?.close();
    await sandboxed?.server.close();
    await trusted?.server.close();
  });

  /** Opens the remote page as alice, signed in (her token cookie, and JupyterLab's readable _xsrf). */
  const openAsAlice = async ({
    server,
    session
  }: {
    server: RunningProxyServer;
    session: string;
  }) => {
    const context = await browser.newContext();
    await context.addCookies([
      {
        name: 'interlink-token',
        value: TOKEN,
        url: server.url,
        httpOnly: true,
        sameSite: 'Strict'
      },
      { name: '_xsrf', value: 'alice-xsrf', url: server.url, sameSite: 'Strict' }
    ]);
    const page = await context.newPage();
    const api = '/interlink/api/sessions';
    await page.goto(
      `${server.url}/interlink/sessions/${session}/page?api=${encodeURIComponent(api)}`
    );
    await page.waitForSelector('body[data-result]', { state: 'attached', timeout: 30_000 });
    const result = JSON.parse((await page.getAttribute('body', 'data-result')) ?? '{}') as {
      cookie: string;
      api: number | string;
      serviceWorker: string;
    };
    const registrations = context.serviceWorkers().length;
    console.log(
      `remote page on ${server.url}: ${JSON.stringify(result)}, service workers ${registrations}`
    );
    await context.close();
    return { result, registrations };
  };

  it('runs its script, but not with the proxy origin: no cookie, no API, no service worker', async () => {
    const { result, registrations } = await openAsAlice(sandboxed);
    assert.ok(!String(result.cookie).includes('alice-xsrf'), `page read ${result.cookie}`);
    assert.match(String(result.cookie), /^threw SecurityError/);
    assert.notEqual(result.api, 200, 'the page called the API with alice’s cookie');
    assert.match(result.serviceWorker, /^threw/);
    assert.equal(registrations, 0);
  });

  it('on a site that trusts its remote UI, still cannot install a service worker', async () => {
    const { result, registrations } = await openAsAlice(trusted);
    // The opt-out: the remote UI runs with the origin (what JupyterLab opened there needs).
    assert.match(String(result.cookie), /alice-xsrf/);
    assert.match(result.serviceWorker, /^threw/);
    assert.equal(registrations, 0);
  });

  it('refuses service-worker script requests and drops the dangerous headers', async () => {
    const { server, session } = sandboxed;
    const url = `${server.url}/interlink/sessions/${session}`;
    const auth = { authorization: `token ${TOKEN}` };
    const sw = await fetch(`${url}/sw.js`, { headers: { ...auth, 'service-worker': 'script' } });
    assert.equal(sw.status, 403);
    assert.match(((await sw.json()) as { message: string }).message, /service worker/i);
    const res = await fetch(`${url}/headers`, { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-remote'), 'kept');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('content-security-policy'), `default-src 'self', ${SANDBOX_CSP}`);
    // A page opened with ?token= keeps the cookie instead (the token need not stay in URLs).
    const opened = await fetch(`${url}/headers?token=${TOKEN}`, {
      headers: { 'sec-fetch-dest': 'document' }
    });
    assert.equal(opened.status, 200);
    assert.match(opened.headers.get('set-cookie') ?? '', /^interlink-token=.*HttpOnly/);
    for (const name of [
      'service-worker-allowed',
      'clear-site-data',
      'access-control-allow-origin',
      'access-control-allow-credentials'
    ]) {
      assert.equal(res.headers.get(name), null, name);
    }
  });
});
