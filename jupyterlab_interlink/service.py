"""The interLink Node service (proxy server and tunnel agent, built JavaScript shipped in this
package) as a supervised child of jupyter_server: found, checked (Node >= 20), started on a
private loopback port, restarted when it dies, stopped with the server."""

import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
#: The bundled proxy server; its tunnel agent sits beside it (node/agent/cli.js).
SERVICE_SCRIPT = os.path.join(HERE, "node", "cli.js")
NODE_MAJOR_MIN = 20


class NodeMissing(Exception):
    """Node.js is absent or too old: the message says which, in words for the user."""


def find_node(node=None):
    """The `node` to run and its version; NodeMissing (with a message for users) otherwise."""
    path = node or shutil.which("node")
    if not path:
        raise NodeMissing(
            f"Node.js {NODE_MAJOR_MIN} or newer is needed to run the interLink service, and "
            "`node` is not on PATH. Install Node.js (https://nodejs.org, or your package "
            "manager / conda-forge's `nodejs`) and restart JupyterLab."
        )
    try:
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        raise NodeMissing(f"`{path} --version` failed ({err}): the interLink service needs Node.js "
                          f"{NODE_MAJOR_MIN} or newer.") from err
    m = re.match(r"v?(\d+)\.", version)
    if not m or int(m.group(1)) < NODE_MAJOR_MIN:
        raise NodeMissing(
            f"The interLink service needs Node.js {NODE_MAJOR_MIN} or newer; `{path}` is "
            f"{version or 'of unknown version'}. Install a newer Node.js and restart JupyterLab."
        )
    return path, version


def free_port(host="127.0.0.1"):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def write_secret_file(directory):
    """A fresh secret in a 0600 file: the Node service reads it from there, never argv."""
    secret = secrets.token_hex(32)
    path = os.path.join(directory, "token")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret, path


class NodeService:
    """One Node service process and its restarts.

    The service trusts one secret, the one jupyter_server's front door sends after it has
    authenticated the user itself (see frontdoor.py); users never see that secret.
    """

    #: Its host policy knows JupyterLab's names: it sees the browser's Host and Origin.
    passes_host = True

    #: Restarts within this window count towards giving up (a crash loop is logged, not hidden).
    RESTART_WINDOW = 60.0
    MAX_RESTARTS = 5

    def __init__(self, *, node, base_path, root_dir, log, sites=None, state_dir=None, env=None):
        self.node = node
        self.base_path = base_path.rstrip("/")
        self.root_dir = root_dir
        self.log = log
        self.sites = sites
        self.state_dir = state_dir
        self.extra_env = env or {}
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self._private = tempfile.mkdtemp(prefix="jupyterlab-interlink-")
        os.chmod(self._private, 0o700)
        self.secret, self._secret_file = write_secret_file(self._private)
        self.process = None
        #: Our end of the IPC channel the service reads handed-over sockets from (see hand_over).
        self._channel = None
        #: Set once the service answers; `failure` says why it never will.
        self.ready = asyncio.Event()
        self.failure = None
        self._stopping = False
        self._restarts = []
        self._watch = None

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def _command_env(self):
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(
            {
                "INTERLINK_HOST": self.host,
                "INTERLINK_PORT": str(self.port),
                "INTERLINK_BASE_PATH": self.base_path,
                "INTERLINK_TOKEN_FILE": self._secret_file,
                "INTERLINK_NOTEBOOK_DIR": self.root_dir,
            }
        )
        # A hub's variables would switch the service to hub mode; standalone it has none.
        for name in ("JUPYTERHUB_API_TOKEN", "INTERLINK_TOKEN"):
            env.pop(name, None)
        if self.sites:
            env["INTERLINK_SITES"] = self.sites
        # A restarted service re-adopts the sessions of the one before from here.
        env["INTERLINK_STATE_DIR"] = self.state_dir or os.path.join(self._private, "state")
        return env

    def _spawn(self):
        self._close_channel()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = self._command_env()
        # Node opens this as its IPC channel (process.channel), as for child_process.fork.
        env["NODE_CHANNEL_FD"] = str(theirs.fileno())
        try:
            self.process = subprocess.Popen(
                [self.node, SERVICE_SCRIPT], env=env, stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._channel = ours
        self._loop = asyncio.get_running_loop()
        # Node acknowledges each handle; nothing else comes back. Read and drop, or it backs up.
        self._loop.add_reader(ours.fileno(), self._drain_channel)
        self.log.info(
            "interLink: Node service (pid %s) on %s, reached at %s/",
            self.process.pid, self.url, self.base_path,
        )

    def _drain_channel(self):
        try:
            if self._channel.recv(65536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._close_channel()  # the service exited; its restart opens a new channel

    def _close_channel(self):
        if self._channel is not None:
            self._loop.remove_reader(self._channel.fileno())
            self._channel.close()
            self._channel = None

    def hand_over(self, sock, head):
        """Passes a connected socket, with the request head already read from it, to the service.

        False when it cannot (no channel: the service is restarting); the caller forwards the
        bytes itself then. Our copy of the socket may be closed afterwards: the service has its own.
        """
        if self._channel is None:
            return False
        message = json.dumps({
            "cmd": "NODE_HANDLE",
            "type": "net.Socket",
            "msg": {"interlink": "connection", "head": base64.b64encode(head).decode("ascii")},
        }) + "\n"
        try:
            # One sendmsg: the descriptor must arrive with its message (Node pairs them by read).
            sent = socket.send_fds(self._channel, [message.encode()], [sock.fileno()])
        except OSError:
            return False
        if sent != len(message):
            # A partial write cannot be taken back: the channel is out of step from here on.
            self.log.error("interLink: handing a connection to the service failed; channel closed")
            self._close_channel()
            return False
        return True

    async def start(self, timeout=60.0):
        try:
            self._spawn()
            await self.wait_ready(timeout)
        except Exception as err:
            self.failure = f"The interLink Node service did not start: {err} (see the JupyterLab log)."
            self.ready.set()
            raise
        self.ready.set()
        self._watch = asyncio.ensure_future(self._supervise())

    async def wait_ready(self, timeout):
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError

        client = AsyncHTTPClient()
        deadline = time.monotonic() + timeout
        url = f"{self.url}{self.base_path}/api/sites"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the interLink Node service exited with code {self.process.returncode}")
            try:
                await client.fetch(url, headers={"Authorization": f"token {self.secret}"},
                                   request_timeout=5)
                return
            except (HTTPClientError, OSError):
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the interLink Node service did not answer within {timeout:.0f} s")

    async def _supervise(self):
        while not self._stopping:
            code = await asyncio.get_running_loop().run_in_executor(None, self.process.wait)
            if self._stopping:
                return
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < self.RESTART_WINDOW] + [now]
            if len(self._restarts) > self.MAX_RESTARTS:
                self.log.error(
                    "interLink: the Node service exited with code %s, %d times in %.0f s; "
                    "not restarting it (see its log above)",
                    code, len(self._restarts), self.RESTART_WINDOW,
                )
                return
            self.log.warning("interLink: the Node service exited with code %s; restarting it", code)
            await asyncio.sleep(0.5 * len(self._restarts))
            self._spawn()

    def stop(self):
        # (Runs in a thread; the channel closes in the loop when the service's end does.)
        self._stopping = True
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self._private, ignore_errors=True)
