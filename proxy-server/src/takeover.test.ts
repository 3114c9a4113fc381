/**
 * A tunnel taken over: a kernel session on the embedded local site, its real agent connected;
 * something else that has the session's secret dials in. The owner is told on the event stream
 * and sees both agents in the session; the real agent keeps coming back and takes it back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { AGENT_ENV, type Session } from '@jupyterlab-interlink/contract';
import { TunnelAgent } from './agent/tunnel-agent.js';
import { readEvents, waitForEvent } from './testing/events.js';
import { startLocalProxy, type LocalProxy } from './testing/local-proxy.js';

/** A variable of a running process's environment (tests run as root, or as the agent's user). */
function environOf(pid: number, name: string): string | undefined {
  const entry = readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .find(kv => kv.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

describe('a tunnel taken over by another agent', () => {
  let proxy: LocalProxy;
  let impostor: TunnelAgent | undefined;
  let decoy: http.Server;

  before(async () => {
    decoy = http.createServer((_req, res) => res.end('not your notebook'));
    await new Promise<void>(r => decoy.listen(0, '127.0.0.1', r));
    proxy = await startLocalProxy();
  });
  after(async () => {
    await impostor?.stop();
    await proxy?.close();
    await new Promise(r => decoy.close(r));
  });

  it('is pushed to the owner with both agents, and the real agent takes it back', async () => {
    const events = readEvents(await proxy.request('alice', '/events'));
    const created = await proxy.request('alice', '/sessions', {
      method: 'POST',
      body: JSON.stringify({ site: 'local', profile: 'small', type: 'kernel' })
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as Session;
    const sessionEvent = (test: (s: Session) => boolean, what: string) =>
      waitForEvent(
        events,
        e => e.event === 'session' && (e.data as Session).id === id && test(e.data as Session),
        what
      ).then(e => e.data as Session);

    // Ready: the session names the agent that holds its tunnel, the job's own process.
    const ready = await sessionEvent(s => s.state === 'ready' && !!s.agent, 'ready with its agent');
    const agentPid = ready.agent!.pid!;
    assert.equal(environOf(agentPid, 'INTERLINK_SESSION_ID'), id, 'the agent of this session');
    assert.equal(ready.agent!.address, '127.0.0.1');
    assert.equal(ready.takeovers, undefined);

    // Something else holding the secret (read here from the job, as a co-tenant with the same
    // account could) dials in as another agent.
    const secret = readFileSync(environOf(agentPid, AGENT_ENV.secretFile)!, 'utf8').trim();
    impostor = new TunnelAgent({
      url: `ws://127.0.0.1:${proxy.server.port}/interlink/tunnel`,
      sessionId: id,
      secret,
      target: {
        host: '127.0.0.1',
        port: (decoy.address() as { port: number }).port,
        basePath: ready.url,
        token: 'x'
      },
      env: {},
      self: { pid: 4242, host: 'somewhere-else' },
      // It, too, keeps coming back; slowly, so the test sees the real agent's turn.
      maxDelayMs: 60_000
    });
    impostor.start();
    const taken = await sessionEvent(s => (s.takeovers?.length ?? 0) >= 1, 'the takeover');
    assert.deepEqual(
      [taken.agent?.host, taken.agent?.pid, taken.takeovers![0].previous.pid],
      ['somewhere-else', 4242, agentPid]
    );
    assert.match(
      taken.progress!.at(-1)!,
      /another agent \(4242@somewhere-else from 127\.0\.0\.1\)/
    );
    const seen = (await (await proxy.request('alice', `/sessions/${id}`)).json()) as Session;
    assert.equal(seen.takeovers?.length, 1);

    // The real agent did not stop: it dials again and holds the session once more.
    const back = await sessionEvent(
      s => s.takeovers?.length === 2,
      'the real agent taking the tunnel back'
    );
    assert.equal(back.agent?.pid, agentPid);
    assert.equal(back.takeovers![1].previous.pid, 4242);
    await impostor.stop();
    impostor = undefined;
    await proxy.request('alice', `/sessions/${id}`, { method: 'DELETE' });
    await events.return(undefined);
  });
});
