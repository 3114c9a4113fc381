// A proxy front door with a TunnelEndpoint, in its own process (as in production, the proxy and the
// agent are separate machines). Talks to the bench driver over IPC.
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { startHarness } from '../../proxy-server/dist/testing/tunnel-harness.js';

const h = await startHarness({ logger: pino({ level: 'warn' }) });
h.endpoint.on('up', id => process.send({ type: 'up', id }));
process.on('message', async msg => {
  if (msg.type === 'secret') {
    for (const [id, secret] of msg.secrets) h.secrets.set(id, secret);
    process.send({ type: 'ok' });
  } else if (msg.type === 'memory') {
    if (globalThis.gc) for (let i = 0; i < 3; i++) globalThis.gc();
    await sleep(200);
    const m = process.memoryUsage();
    let up = 0;
    for (const id of msg.ids ?? []) if (h.endpoint.isUp(id)) up++;
    process.send({ type: 'memory', memory: m, up });
  } else if (msg.type === 'cpu') {
    process.send({ type: 'cpu', usage: process.cpuUsage() });
  } else if (msg.type === 'exit') {
    await h.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', port: h.port, tunnelUrl: h.tunnelUrl });
