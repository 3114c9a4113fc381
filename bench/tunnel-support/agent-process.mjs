// Tunnel agents in their own process, forwarding to an already running server. The driver sends
// {type: 'start', tunnelUrl, target: {host, port, token} or {socketPath, token}, sessions: [{sessionId, secret, basePath}],
// transport?: 'websocket'}.
import { setTimeout as sleep } from 'node:timers/promises';
import { TunnelAgent } from '../../proxy-server/dist/agent/tunnel-agent.js';

let agents = [];
process.on('message', async msg => {
  if (msg.type === 'start') {
    agents = msg.sessions.map(
      s =>
        new TunnelAgent({
          url: msg.tunnelUrl,
          sessionId: s.sessionId,
          secret: s.secret,
          target: { ...msg.target, basePath: s.basePath },
          env: {},
          transport: msg.transport
        })
    );
    // Start in small batches so 1,000 handshakes do not all land in the same tick.
    for (let i = 0; i < agents.length; i += 50) {
      for (const a of agents.slice(i, i + 50)) a.start();
      await sleep(20);
    }
  } else if (msg.type === 'cpu') {
    process.send({ type: 'cpu', usage: process.cpuUsage() });
  } else if (msg.type === 'exit') {
    await Promise.all(agents.map(a => a.stop()));
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
