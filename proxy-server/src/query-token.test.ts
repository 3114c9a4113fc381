// A token in a URL ends up in access logs: accepted only where a browser has no other way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createLogger } from './logging.js';

const TOKEN = 'query-token-0123456789';

describe('?token= in URLs', () => {
  let server: RunningProxyServer;
  let base: string;

  before(async () => {
    server = await startProxyServer({
      sites: [defaultLocalSite()],
      auth: new TokenAuthenticator(TOKEN, 'alice'),
      logger: createLogger('warn')
    });
    base = `${server.url}/interlink`;
  });
  after(async () => server?.close());

  it('is refused on every API route and /metrics, with a message saying what to send', async () => {
    for (const path of [
      '/api/sites',
      '/api/sessions',
      '/api/events',
      '/api/sessions/x/logs',
      '/metrics'
    ]) {
      const res = await fetch(`${base}${path}?token=${TOKEN}`);
      assert.equal(res.status, 401, path);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, 'token_in_url');
      assert.match(body.message, /Authorization: token/);
    }
    // A state change too.
    const res = await fetch(`${base}/api/sessions?token=${TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel' })
    });
    assert.equal(res.status, 401);
  });

  it('the same token in the Authorization header is accepted', async () => {
    const res = await fetch(`${base}/api/sites`, { headers: { authorization: `token ${TOKEN}` } });
    assert.equal(res.status, 200);
  });

  it('is accepted when a browser opens a page of a session', async () => {
    // No such session: the token got the caller past sign-in, to the 404 of an owner.
    const res = await fetch(`${base}/sessions/nothing/lab?token=${TOKEN}`, {
      headers: { 'sec-fetch-dest': 'document', accept: 'text/html' }
    });
    assert.equal(res.status, 404);
    // A script's fetch of the same URL is not a page load.
    const scripted = await fetch(`${base}/sessions/nothing/api/status?token=${TOKEN}`, {
      headers: { 'sec-fetch-dest': 'empty' }
    });
    assert.equal(scripted.status, 401);
  });
});
