// The session's secret never crosses the network in clear.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TunnelAgent } from './tunnel-agent.js';
import { tunnelUrlProblem } from './tunnel-url.js';

const agentFor = (url: string): TunnelAgent =>
  new TunnelAgent({
    url,
    sessionId: 's',
    secret: 'secret-0123456789',
    target: { host: '127.0.0.1', port: 1, basePath: '/s/' }
  });

describe('tunnel URLs', () => {
  it('plain ws:// only to loopback', () => {
    for (const ok of [
      'ws://127.0.0.1:1/t',
      'ws://localhost/t',
      'ws://[::1]:8/t',
      'wss://hub.example.org/t',
      'wss://10.0.0.5/t'
    ]) {
      assert.equal(tunnelUrlProblem(new URL(ok)), null, ok);
    }
    for (const bad of ['ws://hub.example.org/t', 'ws://10.0.0.5:8888/t', 'ws://0.0.0.0:1/t']) {
      assert.match(tunnelUrlProblem(new URL(bad)) ?? '', /in clear: use wss:\/\//, bad);
    }
    assert.match(tunnelUrlProblem(new URL('http://hub/t')) ?? '', /ws:\/\/ or wss:\/\//);
  });

  it('the agent refuses to dial plain ws:// to another host, saying why', () => {
    assert.throws(
      () => agentFor('ws://hub.example.org/interlink/tunnel'),
      /would send the session's secret in clear/
    );
    assert.doesNotThrow(() => agentFor('ws://127.0.0.1:1/interlink/tunnel'));
  });
});
