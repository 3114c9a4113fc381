"""`{base_url}interlink/…` on JupyterLab's own origin, forwarded to the Node service.

jupyter_server authenticates the caller first (its token, cookie or whatever identity provider it
runs), then the request goes on with the service's private secret in place of the user's
credentials, so users need no second token. WebSocket upgrades (remote kernels, terminals) are
handed over once authenticated: the browser's socket itself goes to the Node service (over the
IPC channel service.py opened, see `NodeService.hand_over`), or, where it cannot (TLS), its bytes
are spliced here; either way no per-message work in Python, which keeps the kernel round trip
close to going straight (bench/front-door-kernel.mjs measures it). HTTP answers,
the event stream and followed logs are streamed chunk by chunk, and so are the bodies of a file
copy's writes into a session (`StreamingServiceProxy`).

`{base}/tunnel` is the agents' door: agents prove themselves to the Node service with their
session's secret, not with a Jupyter identity, so it is passed on untouched.
"""

import asyncio
import json
import ssl
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import httpclient, web
from tornado.httputil import HTTPHeaders
from tornado.iostream import SSLIOStream, StreamClosedError
from tornado.tcpclient import TCPClient

# Headers that describe one connection, not the request (RFC 9110 §7.6.1), plus what the
# service must not see from the browser: Jupyter's own credentials.
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length",
}
CREDENTIALS = {"authorization", "cookie"}
# What names the browser's page: jupyter_server has checked it (APIHandler.prepare refuses a
# foreign Origin), and a service on another host would compare it with its own name.
BROWSER_ORIGIN = {"host", "origin", "referer"}
_client = None


def _http_client():
    # One client for the service: event streams and followed logs each hold a connection.
    global _client
    if _client is None:
        _client = httpclient.AsyncHTTPClient(force_instance=True, max_clients=256)
    return _client


def _without_token(uri):
    """The URI without Jupyter's `?token=`: it is not the service's business."""
    parts = urlsplit(uri)
    if "token" not in parts.query:
        return uri
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"])
    return urlunsplit(("", "", parts.path, query, ""))


class ServiceUnavailable(APIHandler):
    """Every `{base}/…` route when the Node service cannot run: the reason, for the panel."""

    def initialize(self, message):
        self.message = message

    @web.authenticated
    def get(self, *args):
        self.set_status(503)
        self.finish(json.dumps({"error": "service_unavailable", "message": self.message}))

    post = put = delete = patch = get


class ServiceProxy(APIHandler):
    """Authenticated HTTP and WebSocket forwarding to the Node service."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def initialize(self, service, authenticate=True):
        self.service = service
        self.authenticate = authenticate

    def check_xsrf_cookie(self):
        # The tunnel's callers are agents with their own secret; everything else is Jupyter's
        # usual check (token-authenticated requests pass it).
        if self.authenticate:
            return super().check_xsrf_cookie()

    async def _authenticated(self):
        if self.authenticate and self.current_user is None:
            self.set_status(403)
            self.finish(json.dumps({"error": "forbidden", "message": "Sign in to JupyterLab first."}))
            return False
        if not self.service.ready.is_set():
            # Requests of a page opened while the service starts wait for it (a second or two).
            try:
                await asyncio.wait_for(self.service.ready.wait(), 60)
            except asyncio.TimeoutError:
                pass
        if self.service.failure or not self.service.ready.is_set():
            self.set_status(503)
            self.finish(json.dumps({"error": "service_unavailable",
                                    "message": self.service.failure or "The interLink Node service is starting."}))
            return False
        return True

    def _service_headers(self):
        headers = HTTPHeaders()
        for name, value in self.request.headers.get_all():
            lower = name.lower()
            if self.authenticate and lower in CREDENTIALS:
                continue
            if not self.service.passes_host and lower in BROWSER_ORIGIN:
                continue
            headers.add(name, value)
        if self.authenticate:
            headers["Authorization"] = f"token {self.service.secret}"
        if not self.service.passes_host:
            headers["Host"] = self.service.netloc
        return headers

    def _service_uri(self):
        uri = _without_token(self.request.uri) if self.authenticate else self.request.uri
        # This route's prefix becomes the service's own (the same path standalone).
        prefix = url_path_join(self.base_url, "interlink")
        return self.service.base_path + uri[len(prefix):]

    async def get(self, *args):
        if not await self._authenticated():
            return
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            await self._pipe_upgrade()
        else:
            await self._forward()

    async def _generic(self, *args):
        if await self._authenticated():
            await self._forward()

    post = put = patch = delete = head = options = _generic

    async def _forward(self):
        headers = self._service_headers()
        for name in HOP_BY_HOP:
            if name != "content-length":
                headers.pop(name, None)
        started = False

        def on_header(line):
            nonlocal started
            line = line.rstrip("\r\n")
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                self._upstream_status = (int(parts[1]), parts[2] if len(parts) > 2 else None)
                self._upstream_headers = HTTPHeaders()
            elif line:
                self._upstream_headers.parse_line(line)
            elif self._upstream_status[0] >= 200:
                started = True
                self.set_status(*self._upstream_status)
                # The service's headers alone (this handler's defaults would double them).
                self._headers = HTTPHeaders()
                for name, value in self._upstream_headers.get_all():
                    if name.lower() not in HOP_BY_HOP:
                        self.add_header(name, value)

        def on_chunk(chunk):
            if self.request.connection.stream.closed():
                return  # the browser left (a closed tab, an aborted log follow)
            self.write(chunk)
            self.flush()  # an event or a log line goes out as it comes

        request = httpclient.HTTPRequest(
            self.service.url + self._service_uri(),
            method=self.request.method,
            headers=headers,
            **self._body(),
            follow_redirects=False,
            decompress_response=False,
            allow_nonstandard_methods=True,
            connect_timeout=10,
            request_timeout=0,  # event streams and followed logs stay open
            header_callback=on_header,
            streaming_callback=on_chunk,
        )
        try:
            response = await _http_client().fetch(request, raise_error=False)
        except (httpclient.HTTPClientError, StreamClosedError, OSError):
            if self._finished:
                return
            if started:
                # The service went away mid-answer (it restarted, or the session ended): a body
                # cut short must not pass for a whole one, so the connection is dropped.
                self.request.connection.close()
                self._finished = True
                return
            # It never answered: say so. (Returning here would let tornado answer 200, and a
            # write that never happened would pass for one that did.)
            self.set_status(503)
            self.finish(json.dumps({
                "error": "service_unavailable",
                "message": "The interLink Node service is not running (it may be restarting: "
                           "see the JupyterLab log).",
            }))
            return
        if self._finished or self.request.connection.stream.closed():
            return
        if not started:
            if response.code == 599:
                self.set_status(503)
                self.finish(json.dumps({
                    "error": "service_unavailable",
                    "message": "The interLink Node service is not running (it may be restarting: "
                               "see the JupyterLab log).",
                }))
                return
            self.set_status(response.code)
        if not self._finished:
            self.finish()

    def _body(self):
        """The request's body for the service, as HTTPRequest takes it."""
        body = self.request.body if self.request.method not in ("GET", "HEAD") else None
        return {"body": body if body or self.request.method in ("POST", "PUT", "PATCH") else None}

    async def _pipe_upgrade(self):
        headers = self._service_headers()
        head = [f"GET {self._service_uri()} HTTP/1.1"]
        head += [f"{name}: {value}" for name, value in headers.get_all()]
        head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        # Best: the service takes the browser's socket itself, and no frame passes through Python.
        if _can_hand_over(self.request.connection.stream):
            client = self.detach()
            if self.service.hand_over(client.socket, head):
                client.close()  # our copy only: the service holds its own
                return
        else:
            client = None
        try:
            upstream = await TCPClient().connect(
                self.service.host,
                self.service.port,
                # tornado names the host to TLS itself (SNI and the certificate check).
                ssl_options=ssl.create_default_context() if self.service.url.startswith("https:") else None,
            )
        except OSError:
            if client is not None:
                client.close()
                return
            self.set_status(503)
            self.finish(json.dumps({"error": "service_unavailable",
                                    "message": "The interLink Node service is not running."}))
            return
        client = client or self.detach()
        for stream in (client, upstream):
            stream.set_nodelay(True)
        try:
            await upstream.write(head)
        except StreamClosedError:
            client.close()
            return
        await _splice(client, upstream)


@web.stream_request_body
class StreamingServiceProxy(ServiceProxy):
    """A file copy's raw writes (`{base}/sessions/{id}/files-write/…`, MiBs each): passed on to
    the service as they arrive, not read whole first, which left the copy at half the tunnel's
    rate (bench/drive-copy.mjs). Who calls is settled in `prepare`, before any byte is read."""

    SUPPORTED_METHODS = ("PUT",)
    _upstream = None
    _body_end = None  # set in prepare, once who calls is settled

    async def prepare(self):
        await super().prepare()
        loop = asyncio.get_running_loop()
        self._write = loop.create_future()  # the service connection's write, once it is open
        self._body_end = loop.create_future()
        # A refusal here comes before the body is read (see write_error); an answer from the
        # service replaces these headers with its own.
        self.set_header("Connection", "close")
        if await self._authenticated():
            self._upstream = asyncio.ensure_future(self._forward())
            # A browser that left mid-body fails it, with nobody waiting for the outcome.
            self._upstream.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _body(self):
        async def produce(write):
            self._write.set_result(write)
            await self._body_end

        return {"body_producer": produce}

    async def data_received(self, chunk):
        if self._upstream is None:
            return
        await asyncio.wait([self._write, self._upstream], return_when=asyncio.FIRST_COMPLETED)
        if self._upstream.done():
            return  # answered or gone: the rest of the body goes nowhere
        try:
            await self._write.result()(chunk)
        except StreamClosedError:
            pass

    def write_error(self, status_code, **kwargs):
        # Refused before its body was read: tornado closes the connection once it answers, and
        # says so here, or a proxy in front (the hub's) would send the next request down it.
        self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def _end_body(self):
        if self._body_end is not None and not self._body_end.done():
            self._body_end.set_result(None)

    async def put(self, *args):
        self._end_body()
        if self._upstream is not None:
            await self._upstream

    def on_connection_close(self):
        self._end_body()
        super().on_connection_close()


def _can_hand_over(stream):
    """A plain TCP socket with nothing read past the request: TLS state cannot move processes."""
    return not isinstance(stream, SSLIOStream) and not stream._read_buffer_size


async def _pump(source, sink):
    try:
        while True:
            chunk = await source.read_bytes(1 << 16, partial=True)
            await sink.write(chunk)
    except StreamClosedError:
        pass
    finally:
        sink.close()


async def _splice(a, b):
    await asyncio.gather(_pump(a, b), _pump(b, a))


def handlers(base_url, service=None, unavailable=None):
    """The routes under `{base_url}interlink/`: forwarded, or a 503 saying why they cannot be."""
    prefix = url_path_join(base_url, "interlink")
    if service is None:
        return [(prefix + r"(/.*)?", ServiceUnavailable, {"message": unavailable})]
    routes = [
        (prefix + r"(/sessions/[^/]+/files-write/.*)", StreamingServiceProxy, {"service": service}),
        (prefix + r"(/.*)?", ServiceProxy, {"service": service}),
    ]
    if service.passes_host:
        # Agents dial a standalone service here; a hub's service has its own public door.
        tunnel = {"service": service, "authenticate": False}
        routes.insert(0, (prefix + r"(/tunnel(?:/.*)?)", ServiceProxy, tunnel))
    return routes
