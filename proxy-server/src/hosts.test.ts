// DNS rebinding: a page on an attacker's name that re-resolves to this server is refused by Host;
// Origin is compared with scheme and host.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { TokenAuthenticator, startProxyServer, type RunningProxyServer } from './index.js';
import { createHostPolicy, hostOptionsFromEnvironment, hostnameOf } from './hosts.js';
import { createLogger } from './logging.js';
import { upgradeStatus } from './testing/upgrade.js';

const TOKEN = 'hosts-token-0123456789';

/** A raw request, so Host can be anything (fetch always sends the URL's). */
function get(
  url: string,
  headers: Record<string, string>,
  method = 'GET'
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, res => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', c => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('host names', () => {
  it('takes the name out of a Host header', () => {
    assert.equal(hostnameOf('LocalHost:8888'), 'localhost');
    assert.equal(hostnameOf('[::1]:8888'), '::1');
    assert.equal(hostnameOf('hub.example.org'), 'hub.example.org');
  });

  it('reads the configured names and the hub public URL from the environment', () => {
    const options = hostOptionsFromEnvironment({
      INTERLINK_HOSTNAMES: 'a.example, https://b.example:8443/x',
      JUPYTERHUB_PUBLIC_URL: 'https://hub.example.org/'
    });
    const policy = createHostPolicy(options);
    const req = (host: string) => ({ headers: { host } }) as http.IncomingMessage;
    assert.equal(policy.refusal(req('a.example:8888')), null);
    assert.equal(policy.refusal(req('b.example')), null);
    assert.equal(policy.refusal(req('hub.example.org')), null);
    assert.equal(policy.refusal(req('127.0.0.7:1')), null);
    assert.equal(policy.refusal(req('[::1]:1')), null);
    assert.match(policy.refusal(req('c.example'))?.message ?? '', /"c\.example"/);
    assert.throws(
      () => hostOptionsFromEnvironment({ INTERLINK_ALLOW_REMOTE_ACCESS: 'maybe' }),
      /INTERLINK_ALLOW_REMOTE_ACCESS/
    );
  });
});

describe('the server answers only to its own names', () => {
  let server: RunningProxyServer;
  let api: string;

  before(async () => {
    server = await startProxyServer({
      sites: [defaultLocalSite()],
      auth: new TokenAuthenticator(TOKEN, 'alice'),
      logger: createLogger('warn'),
      hosts: { hostnames: ['jupyter.example.org'] }
    });
    api = `${server.url}/interlink/api`;
  });
  after(async () => server?.close());

  it('refuses a rebound name with a 403 naming the Host', async () => {
    const res = await get(`${api}/sites`, {
      host: `rebind.attacker.example:${server.port}`,
      authorization: `token ${TOKEN}`
    });
    assert.equal(res.status, 403);
    const body = JSON.parse(res.body) as { error: string; host: string; message: string };
    assert.equal(body.error, 'host_not_allowed');
    assert.equal(body.host, `rebind.attacker.example:${server.port}`);
    assert.match(body.message, /rebind\.attacker\.example/);
  });

  it('answers loopback names and the configured public name', async () => {
    for (const host of [
      `127.0.0.1:${server.port}`,
      `localhost:${server.port}`,
      'jupyter.example.org'
    ]) {
      const res = await get(`${api}/sites`, { host, authorization: `token ${TOKEN}` });
      assert.equal(res.status, 200, host);
    }
  });

  it('refuses a WebSocket upgrade on a rebound name', async () => {
    const ws = `${server.url.replace('http:', 'ws:')}/interlink/sessions/abc/api/kernels/k/channels`;
    assert.equal(
      await upgradeStatus(ws, {
        host: `rebind.attacker.example:${server.port}`,
        origin: `http://rebind.attacker.example:${server.port}`,
        authorization: `token ${TOKEN}`
      }),
      403
    );
  });

  it('compares Origin with scheme and host, not host alone', async () => {
    const cookie = `interlink-token=${TOKEN}`;
    const host = `127.0.0.1:${server.port}`;
    const post = (origin: string) =>
      get(`${api}/sessions/nothing`, { host, cookie, origin }, 'DELETE');
    // Same host, other scheme: an https page is not this plain-http server.
    assert.equal((await post(`https://${host}`)).status, 403);
    assert.equal((await post('null')).status, 403);
    // This very origin gets through the check (and finds no such session), also behind a proxy
    // that says how the browser came (http-proxy says ws for upgrades).
    assert.equal((await post(`http://${host}`)).status, 404);
    const behind = (proto: string, origin: string) =>
      get(
        `${api}/sessions/nothing`,
        { host, cookie, origin, 'x-forwarded-proto': proto },
        'DELETE'
      );
    assert.equal((await behind('https', `https://${host}`)).status, 404);
    assert.equal((await behind('https', `http://${host}`)).status, 403);
    assert.equal((await behind('ws', `http://${host}`)).status, 404);
  });
});
