/**
 * A remote "Jupyter server" as an attacker would write one: started by the agent like the real
 * one (same arguments, token in JUPYTER_TOKEN), it answers api/status, and serves a page whose
 * script tries what a hostile page would on the proxy's origin, a service worker for it, and a
 * response carrying every header a remote must not set there.
 */
import http from 'node:http';

// The agent asks `--version` first, as of a real server: say 1.x, which it serves on loopback TCP.
if (process.argv.includes('--version')) {
  process.stdout.write('1.23.0\n');
  process.exit(0);
}

const arg = (name: string): string =>
  process.argv.find(a => a.startsWith(`--ServerApp.${name}=`))?.split('=')[1] ?? '';
const base = arg('base_url');

// What the page reports lands in <body data-result>, for the test to read.
const PAGE = `<!doctype html><html><body><p>remote page</p><script>
(async () => {
  const result = {};
  try { result.cookie = document.cookie; } catch (e) { result.cookie = 'threw ' + e.name; }
  try {
    const res = await fetch('${'$'}{API}', { credentials: 'include' });
    result.api = res.status;
  } catch (e) { result.api = 'threw ' + e.name; }
  try {
    await navigator.serviceWorker.register('sw.js', { scope: './' });
    result.serviceWorker = 'registered';
  } catch (e) { result.serviceWorker = 'threw ' + e.name; }
  document.body.dataset.result = JSON.stringify(result);
})();
</script></body></html>`;

http
  .createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === `${base}api/status`) {
      const ok = req.headers.authorization === `token ${process.env.JUPYTER_TOKEN}`;
      return void res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' }).end('{}');
    }
    if (path === `${base}page`) {
      const api = new URL(req.url ?? '/', 'http://x').searchParams.get('api') ?? '/';
      return void res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(PAGE.replace('${API}', api));
    }
    if (path === `${base}sw.js`) {
      return void res
        .writeHead(200, { 'content-type': 'text/javascript', 'service-worker-allowed': '/' })
        .end("self.addEventListener('fetch', () => {});");
    }
    if (path === `${base}headers`) {
      return void res
        .writeHead(200, {
          'content-type': 'text/plain',
          'content-security-policy': "default-src 'self'",
          'service-worker-allowed': '/',
          'clear-site-data': '"*"',
          'access-control-allow-origin': '*',
          'access-control-allow-credentials': 'true',
          'x-remote': 'kept'
        })
        .end('headers');
    }
    res.writeHead(404).end();
  })
  .listen(Number(arg('port')), arg('ip'));
console.log(`serving at http://127.0.0.1:${arg('port')}${base}`);
