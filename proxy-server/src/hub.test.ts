/**
 * The proxy server as a JupyterHub-managed service, against a real JupyterHub 6 started here
 * (testing/jupyterhub.ts: dummy authenticator, simple spawner, configurable-http-proxy from npm,
 * the service declared by configure_interlink). Every request goes through the hub's proxy at
 * /services/interlink/, with users' real hub API tokens.
 *
 * Sites: the embedded local one (real processes, reached through the tunnel) and a Kubernetes one
 * on the vk-bridge's fake API server, where the pod the service creates can be read back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session } from '@jupyterlab-interlink/contract';
import { ANNOTATIONS, defaultLocalSite } from '@jupyterlab-interlink/vk-bridge';
import { FakeApiServer, leonardoOnFakeApi } from '@jupyterlab-interlink/vk-bridge/testing';
import { startHub, type RunningHub } from './testing/jupyterhub.js';
import { KernelChannel, startKernel } from './testing/kernel-client.js';
import { upgradeStatus } from './testing/upgrade.js';

/** Just enough of a browser's cookie handling for one host: names and values, no paths. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  has(name: string): boolean {
    return this.cookies.has(name);
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie }
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const expired =
        attributes.some(a => /^\s*max-age=0\s*$/i.test(a)) || pair.slice(eq + 1) === '""';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
    return res;
  }
}

const auth = (token: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  redirect: 'manual',
  headers: { authorization: `token ${token}`, 'content-type': 'application/json', ...init.headers }
});

async function waitForState(
  get: () => Promise<Session>,
  want: (s: Session) => boolean,
  what: string,
  timeoutMs: number
): Promise<Session> {
  const deadline = Date.now() + timeoutMs;
  let last: Session | undefined;
  while (Date.now() < deadline) {
    last = await get();
    if (want(last)) return last;
    await new Promise(r => setTimeout(r, 300));
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s; last: ${JSON.stringify(last)}`);
}

describe('under a real JupyterHub', () => {
  let hub: RunningHub;
  let fake: FakeApiServer;
  let scratch: string;
  let alice: string;
  let bob: string;
  let api: string;
  let session: Session;
  let kernelId: string;

  before(
    async () => {
      scratch = await mkdtemp(join(tmpdir(), 'interlink-hub-test-'));
      fake = await FakeApiServer.start();
      const leonardo = await leonardoOnFakeApi(fake, scratch, 'hpc');
      hub = await startHub({
        users: ['alice', 'bob'],
        groups: { physics: ['alice'], 'gpu-users': ['alice'] },
        sites: [defaultLocalSite(), leonardo].map(site => ({ ...site, runAs: { shared: true } }))
      });
      api = `${hub.url}${hub.base}/api`;
      alice = await hub.userToken('alice');
      bob = await hub.userToken('bob');
    },
    { timeout: 120_000 }
  );

  after(
    async () => {
      await hub?.stop();
      await fake?.close();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    },
    { timeout: 60_000 }
  );

  it('sends a GET without a token to the hub’s OAuth and refuses a POST with 401', async () => {
    const get = await fetch(`${api}/sites`, { redirect: 'manual' });
    assert.equal(get.status, 302);
    const location = new URL(get.headers.get('location')!, hub.url);
    assert.equal(location.pathname, '/hub/api/oauth2/authorize');
    assert.equal(location.searchParams.get('client_id'), 'service-interlink');
    assert.equal(location.searchParams.get('redirect_uri'), '/services/interlink/oauth_callback');
    assert.match(get.headers.get('set-cookie') ?? '', /HttpOnly/);

    const post = await fetch(`${api}/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel' }),
      redirect: 'manual'
    });
    assert.equal(post.status, 401);
    assert.equal(((await post.json()) as { error: string }).error, 'unauthenticated');
  });

  it('accepts a hub token only with this service’s access scope', async () => {
    assert.equal((await fetch(`${api}/sites`, auth(alice))).status, 200);
    // A token of alice's that may only say who she is (like the single-user server's own).
    const narrow = await hub.userToken('alice', ['read:users:name!user=alice']);
    assert.equal(
      (await fetch(`${api}/sessions`, auth(narrow, { method: 'POST', body: '{}' }))).status,
      401
    );
    assert.equal((await fetch(`${api}/sites`, auth('not-a-hub-token'))).status, 302);
  });

  it('launches as alice on the local site and runs code through the tunnel', async () => {
    const created = await fetch(
      `${api}/sessions`,
      auth(alice, {
        method: 'POST',
        body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel', walltime: 900 })
      })
    );
    assert.equal(created.status, 201, await created.clone().text());
    session = (await created.json()) as Session;
    assert.equal(session.owner, 'alice');
    assert.equal(session.url, `/services/interlink/sessions/${session.id}/`);
    session = await waitForState(
      async () =>
        (await (await fetch(`${api}/sessions/${session.id}`, auth(alice))).json()) as Session,
      s => s.state === 'ready' || s.state === 'failed',
      'the session to become ready',
      90_000
    );
    assert.equal(session.state, 'ready', session.reason);

    // Through the hub's proxy, the service and the tunnel, authenticated by alice's hub token.
    const remote = {
      baseUrl: `${hub.url}${session.url}`,
      headers: { authorization: `token ${alice}` }
    };
    kernelId = await startKernel(remote);
    const channel = await KernelChannel.open(remote, kernelId);
    try {
      const out = await channel.execute(
        "import os; print(os.environ['INTERLINK_SESSION_ID'], os.environ['JUPYTERHUB_USER'], ','.join(sorted(os.environ['INTERLINK_USER_GROUPS'].split(','))))"
      );
      assert.equal(out.trim(), `${session.id} alice gpu-users,physics`);
    } finally {
      channel.close();
    }
  });

  it('hides alice’s session from bob: 404 in the API, 403 on its server over HTTP and WebSocket', async () => {
    assert.ok(session, 'the launch test ran');
    assert.equal((await fetch(`${api}/sessions/${session.id}`, auth(bob))).status, 404);
    assert.deepEqual(await (await fetch(`${api}/sessions`, auth(bob))).json(), []);
    assert.equal(
      (await fetch(`${api}/sessions/${session.id}`, auth(bob, { method: 'DELETE' }))).status,
      404
    );
    assert.equal((await fetch(`${api}/sessions/${session.id}/logs`, auth(bob))).status, 404);

    const server = `${hub.url}${session.url}`;
    assert.equal((await fetch(`${server}api/kernels`, auth(bob))).status, 403);
    assert.equal((await fetch(server, auth(bob))).status, 403);
    assert.equal((await fetch(`${server}api/status`, auth(alice))).status, 200);
    // A file copy's raw write into her files (files-write-route.ts): hers only.
    const write = (token: string) =>
      fetch(
        `${server}files-write/hub-copy.txt?offset=0`,
        auth(token, { method: 'PUT', body: 'copied' })
      );
    assert.equal((await write(bob)).status, 403);
    assert.deepEqual(await (await write(alice)).json(), { size: 6 });

    const ws = `${server.replace(/^http/, 'ws')}api/kernels/${kernelId}/channels`;
    assert.equal(await upgradeStatus(ws, { authorization: `token ${bob}` }), 403);
    assert.equal(await upgradeStatus(`${ws}?token=${bob}`, {}), 403);
    assert.equal(await upgradeStatus(ws, {}), 401);
    // Alice from another origin is refused too; from the hub's own origin she gets in.
    assert.equal(
      await upgradeStatus(ws, {
        authorization: `token ${alice}`,
        origin: 'http://elsewhere.example'
      }),
      403
    );
    assert.equal(
      await upgradeStatus(ws, { authorization: `token ${alice}`, origin: hub.url }),
      101
    );
  });

  it('puts alice’s hub name and groups on the pod as annotations', async () => {
    const created = await fetch(
      `${api}/sessions`,
      auth(alice, {
        method: 'POST',
        body: JSON.stringify({ site: 'leonardo', profile: 'a100', type: 'kernel', walltime: 600 })
      })
    );
    assert.equal(created.status, 201, await created.clone().text());
    const onLeonardo = (await created.json()) as Session;
    try {
      const deadline = Date.now() + 20_000;
      let pods = fake.list('pods', 'hpc');
      while (pods.length === 0 && Date.now() < deadline) {
        await new Promise(r => setTimeout(r, 200));
        pods = fake.list('pods', 'hpc');
      }
      assert.equal(pods.length, 1, 'one pod on the virtual node');
      const annotations = pods[0].metadata?.annotations ?? {};
      assert.equal(annotations[ANNOTATIONS.user], 'alice');
      assert.deepEqual(JSON.parse(annotations[ANNOTATIONS.groups]).sort(), [
        'gpu-users',
        'physics'
      ]);
    } finally {
      await fetch(`${api}/sessions/${onLeonardo.id}`, auth(alice, { method: 'DELETE' }));
    }
  });

  /** A browser signed in to the hub as `user`, then to the service through the hub's OAuth. */
  async function browserOf(user: string): Promise<{ jar: CookieJar; hops: string[] }> {
    const jar = new CookieJar();
    // The login form carries the hub's XSRF token (cookie and field), as a browser sends it.
    const form = await (await jar.fetch(`${hub.url}/hub/login`)).text();
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(form)?.[1];
    assert.ok(xsrf, 'the login form has an _xsrf field');
    const login = await jar.fetch(`${hub.url}/hub/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: user, password: hub.password, _xsrf: xsrf })
    });
    assert.equal(login.status, 302);
    assert.ok(jar.has('jupyterhub-hub-login'), 'signed in to the hub');
    // The dance a page's fetch follows by itself: service → hub authorize → callback → back.
    let res = await jar.fetch(`${api}/sites`);
    const hops: string[] = [];
    while (res.status === 302 && hops.length < 5) {
      const next = new URL(res.headers.get('location')!, hub.url).href;
      hops.push(new URL(next).pathname);
      res = await jar.fetch(next);
    }
    assert.equal(res.status, 200);
    assert.ok(jar.has('interlink-hub-session'));
    return { jar, hops };
  }

  it('signs a browser in through the hub’s OAuth and guards its cookie against other origins', async () => {
    const { jar, hops } = await browserOf('alice');
    assert.deepEqual(hops, [
      '/hub/api/oauth2/authorize',
      '/services/interlink/oauth_callback',
      '/services/interlink/api/sites'
    ]);

    // Cookie-only state changes must come from the hub's own origin.
    const launch = (origin: string) =>
      jar.fetch(`${api}/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin },
        body: JSON.stringify({ site: 'local', profile: 'nope', type: 'kernel' })
      });
    const foreign = await launch('http://elsewhere.example');
    assert.equal(foreign.status, 403);
    assert.equal(((await foreign.json()) as { error: string }).error, 'cross_origin');
    // Same origin: signed in as alice, so the request reaches validation.
    const own = await launch(hub.url);
    assert.equal(own.status, 400);
    assert.equal(((await own.json()) as { field: string }).field, 'profile');

    // A callback without its state cookie (another browser, a replay) is refused.
    const replay = await fetch(
      `${hub.url}/services/interlink/oauth_callback?code=x&state=${'a'.repeat(22)}`,
      {
        redirect: 'manual'
      }
    );
    assert.equal(replay.status, 400);
  });

  it('a session cookie planted by a page of another user’s server is not taken', async () => {
    // On a hub without subdomains, a page bob serves at /user/bob/ shares alice's origin: it can
    // set cookies for /services/ in her browser (not read hers: they are HttpOnly). Planted
    // under a shorter path, bob's own sealed session comes last in her Cookie header.
    const alice = await browserOf('alice');
    const bob = await browserOf('bob');
    const asAliceWithPlant = (extra: string) =>
      fetch(`${api}/sessions`, {
        redirect: 'manual',
        headers: {
          cookie:
            `jupyterhub-session-id=${alice.jar.get('jupyterhub-session-id')}; ` +
            `interlink-hub-session=${alice.jar.get('interlink-hub-session')}; ${extra}`
        }
      });
    const planted = await asAliceWithPlant(
      `interlink-hub-session=${bob.jar.get('interlink-hub-session')}`
    );
    assert.equal(planted.status, 200);
    const listed = (await planted.json()) as Session[];
    // alice launched earlier; bob never did: her list, not his empty one.
    assert.ok(listed.length > 0, 'alice sees her own sessions, not bob’s (none)');
    assert.ok(listed.every(s => s.owner === 'alice'));
    // Bob's session alone, in alice's browser: not bound to her hub sign-in, so not taken.
    const only = await fetch(`${api}/sessions`, {
      redirect: 'manual',
      headers: {
        cookie:
          `jupyterhub-session-id=${alice.jar.get('jupyterhub-session-id')}; ` +
          `interlink-hub-session=${bob.jar.get('interlink-hub-session')}`
      }
    });
    assert.equal(only.status, 302, 'signed in again through the hub, as alice');
    // A second hub session id planted beside hers: no cookie is believed at all.
    const twoIds = await asAliceWithPlant(
      `jupyterhub-session-id=${bob.jar.get('jupyterhub-session-id')}`
    );
    assert.equal(twoIds.status, 302);
  });

  it('writes a copy into alice’s own single-user server’s files, for her only', async () => {
    // The server extension's route (fileswrite.py) is there under a hub too.
    const admin = { authorization: `token ${hub.adminToken}` };
    const started = await fetch(`${hub.url}/hub/api/users/alice/server`, {
      method: 'POST',
      headers: admin
    });
    assert.ok([201, 202].includes(started.status), await started.text());
    // Ready once her server itself answers at /user/alice/ (the hub's proxy routes it there).
    for (const deadline = Date.now() + 60_000; ; await new Promise(r => setTimeout(r, 300))) {
      const status = await fetch(`${hub.url}/user/alice/api/status`, auth(alice));
      if (status.ok && /json/.test(status.headers.get('content-type') ?? '')) break;
      assert.ok(Date.now() < deadline, `alice's server does not answer: ${status.status}`);
    }
    const write = (token: string) =>
      fetch(
        `${hub.url}/user/alice/interlink/files-write/from-a-session.txt?offset=0`,
        auth(token, { method: 'PUT', body: 'copied back' })
      );
    const refused = await write(bob);
    assert.equal(refused.status, 403);
    assert.doesNotMatch(await refused.text(), /"size"/);
    const written = await write(alice);
    const body = await written.text();
    assert.equal(written.status, 200, body);
    assert.deepEqual(JSON.parse(body), { size: 11 });
    const home = join(hub.dir, 'home', 'alice');
    assert.equal(await readFile(join(home, 'from-a-session.txt'), 'utf8'), 'copied back');
    await fetch(`${hub.url}/hub/api/users/alice/server`, { method: 'DELETE', headers: admin });
  });

  it('stops alice’s session at her request', async () => {
    assert.ok(session, 'the launch test ran');
    const stopped = await fetch(`${api}/sessions/${session.id}`, auth(alice, { method: 'DELETE' }));
    assert.equal(stopped.status, 200);
    const ended = await waitForState(
      async () =>
        (await (await fetch(`${api}/sessions/${session.id}`, auth(alice))).json()) as Session,
      s => ['cancelled', 'completed', 'failed'].includes(s.state),
      'the session to end',
      30_000
    );
    assert.equal(ended.state, 'cancelled');
  });
});

describe('a bad site in the hub configuration', () => {
  it(
    'keeps the hub from starting, with a message naming the site and the field',
    { timeout: 120_000 },
    async () => {
      const hub = await startHub({
        wait: 'none',
        sites: [
          {
            ...defaultLocalSite(),
            id: 'gpu-farm',
            kind: 'grid',
            profiles: [
              {
                id: 'big',
                displayName: 'Big',
                resources: { cpu: 0, memory: '1Gi', gpu: 0 },
                maxWalltime: '1h'
              }
            ]
          }
        ]
      });
      try {
        // JupyterHub 6 exits when a managed service ends during its start.
        const code = await Promise.race([
          hub.exited,
          new Promise<string>(r => setTimeout(() => r('still running after 60 s'), 60_000))
        ]);
        assert.equal(code, 1, hub.output().slice(-4000));
        const output = hub.output();
        assert.match(output, /Service interlink exited with status 1/);
        assert.match(output, /INTERLINK_SITES_JSON: invalid site configuration/);
        assert.match(
          output,
          /site "gpu-farm", field kind: must be one of hpc, htc, cloud \(got "grid"\)/
        );
        assert.match(
          output,
          /site "gpu-farm", field profiles\[0\]\.resources\.cpu: must be a number > 0/
        );
      } finally {
        await hub.stop();
      }
    }
  );
});

describe('a site that would run every hub user as one account', () => {
  it(
    'keeps the hub from starting unless its admin says so, naming the site and the way out',
    { timeout: 120_000 },
    async () => {
      const hub = await startHub({ wait: 'none', sites: [defaultLocalSite()] });
      try {
        const code = await Promise.race([
          hub.exited,
          new Promise<string>(r => setTimeout(() => r('still running after 60 s'), 60_000))
        ]);
        assert.equal(code, 1, hub.output().slice(-4000));
        assert.match(
          hub.output(),
          /site "local" runs every user's jobs as the service's own account, so each user's kernel could read the others' secrets, tokens and files\. Map users to accounts with runAs/
        );
      } finally {
        await hub.stop();
      }
    }
  );
});
