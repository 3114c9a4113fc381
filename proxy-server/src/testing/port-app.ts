/**
 * A web app as a user starts one in a job (`node port-app.js <port>`): it serves under the
 * prefix the job's environment gives it (INTERLINK_PORT_PREFIX_<port>), as TensorBoard's
 * --path_prefix does, a page at `{prefix}/` and a WebSocket echo at `{prefix}/echo`; anything
 * else is a 404, so a proxy that stripped the prefix would be caught. It reports the
 * Authorization header it received, which must never be the Jupyter server's token.
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const prefix = process.env[`INTERLINK_PORT_PREFIX_${port}`] ?? '';

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== `${prefix}/`) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`port-app: nothing at ${path}`);
    return;
  }
  const page = {
    app: 'port-app',
    prefix,
    session: process.env.INTERLINK_SESSION_ID ?? '',
    authorization: req.headers.authorization ?? null
  };
  res
    .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    .end(
      `<!doctype html><html><body><pre id="page">${JSON.stringify(page)}</pre><script>` +
        `const ws = new WebSocket(location.href.replace(/^http/, 'ws') + 'echo');` +
        `ws.onopen = () => ws.send('ping');` +
        `ws.onmessage = e => { document.body.dataset.echo = e.data; };` +
        `ws.onerror = () => { document.body.dataset.echo = 'error'; };` +
        `</script></body></html>`
    );
});
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  if ((req.url ?? '').split('?')[0] !== `${prefix}/echo`) return void socket.destroy();
  wss.handleUpgrade(req, socket, head, ws => {
    ws.on('message', (data, binary) => ws.send(binary ? data : `echo: ${data.toString()}`));
  });
});
server.listen(port, '127.0.0.1');

// Started in the background of the job: it ends when the process that started it does.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();
process.on('SIGTERM', () => process.exit(0));
