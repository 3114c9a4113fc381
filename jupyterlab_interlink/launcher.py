"""Standalone JupyterLab launcher: serves the front end built in app/ (with the interLink
extension bundled in) on Debian's jupyter_server 1.23 and jupyterlab_server 2.16.

    /usr/bin/python3 -m jupyterlab_interlink.launcher [--port N] [--ServerApp.token=T]
        [--ephemeral] [any ServerApp option]

Fills the gaps between that server and a JupyterLab 4.5 front end (GET /api/me, the events
WebSocket, a stale "Path Not Found"), starts from a clean workspace on every run, and turns
off Nagle's algorithm on kernel WebSockets.
"""

import atexit
import getpass
import json
import os
import shutil
import sys
import tempfile

from jupyter_core.paths import jupyter_config_dir
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.zmqhandlers import WebSocketMixin
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.kernels.handlers import ZMQChannelsHandler
from jupyterlab_server import LabServerApp
from tornado import web, websocket
from traitlets import Bool, Unicode, default

from . import __version__

HERE = os.path.dirname(os.path.abspath(__file__))
# JUPYTERLAB_INTERLINK_STATIC_DIR serves a front end built elsewhere (app/: APP_OUTPUT_DIR).
STATIC = os.environ.get("JUPYTERLAB_INTERLINK_STATIC_DIR") or os.path.join(HERE, "static")
DEFAULT_INTERLINK_BASE_URL = "/interlink/"


class IdentityHandler(APIHandler):
    """GET /api/me, added in jupyter_server 2; without it the front end logs an error and
    has no user name for collaboration-aware widgets."""

    @web.authenticated
    def get(self):
        # Under JupyterHub the current user is the hub's user model; standalone, whoever runs this.
        user = self.current_user
        name = user.get("name") if isinstance(user, dict) and user.get("name") else _user_name()
        identity = {
            "username": name,
            "name": name,
            "display_name": name,
            "initials": name[:2].upper(),
            "avatar_url": None,
            "color": None,
        }
        # The front end asks which permissions apply; a single-user server grants them all.
        requested = json.loads(self.get_argument("permissions", "{}") or "{}")
        permissions = {resource: list(actions) for resource, actions in requested.items()}
        self.finish(json.dumps({"identity": identity, "permissions": permissions}))


class EventsHandler(APIHandler):
    """POST /api/events: the front end may emit events; this server has no event bus."""

    @web.authenticated
    def post(self):
        self.set_status(204)
        self.finish()


class EventsSubscribeHandler(WebSocketMixin, websocket.WebSocketHandler, JupyterHandler):
    """/api/events/subscribe: jupyter_server 1.23 has no event bus, but without this socket the
    front end retries forever. Authenticated like every other route; never sends anything."""

    def set_default_headers(self):
        # JupyterHandler's headers make no sense on a WebSocket upgrade.
        pass

    async def get(self, *args, **kwargs):
        if self.get_current_user() is None:
            raise web.HTTPError(403)
        return await super().get(*args, **kwargs)

    def on_message(self, message):
        pass


def _user_name():
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry, e.g. in a container with an arbitrary uid
        return "user"


def enable_kernel_websocket_nodelay():
    """Kernel WebSockets leave Nagle's algorithm on in jupyter_server 1.x, so each small
    message waits ~40 ms for a delayed ACK; TCP_NODELAY makes a round trip take a few ms."""
    if getattr(ZMQChannelsHandler, "_interlink_nodelay", False):
        return
    original_open = ZMQChannelsHandler.open

    def open(self, *args, **kwargs):
        self.set_nodelay(True)
        return original_open(self, *args, **kwargs)

    ZMQChannelsHandler.open = open
    ZMQChannelsHandler._interlink_nodelay = True


class InterlinkLabApp(LabServerApp):
    name = "jupyterlab_interlink"
    app_name = "JupyterLab"
    description = __doc__
    app_version = Unicode(__version__)
    extension_url = "/lab"
    default_url = Unicode("/lab")
    app_url = "/lab"
    load_other_extensions = False
    # A headless server by default (tests, remote machines); --ServerApp.open_browser=True to open one.
    serverapp_config = {"open_browser": False}

    static_dir = STATIC
    templates_dir = STATIC
    schemas_dir = os.path.join(STATIC, "schemas")
    themes_dir = os.path.join(STATIC, "themes")

    interlink_base_url = Unicode(
        help="URL of the interLink proxy server's API, given to the front end as page config "
        "`interlinkBaseUrl` (default: $INTERLINK_BASE_URL or /interlink/).",
    ).tag(config=True)

    @default("interlink_base_url")
    def _default_interlink_base_url(self):
        return os.environ.get("INTERLINK_BASE_URL") or DEFAULT_INTERLINK_BASE_URL

    ephemeral = Bool(
        help="Keep user settings in a temporary directory too (removed at exit), so every run "
        "starts from defaults (default: $JUPYTERLAB_INTERLINK_EPHEMERAL=1). Workspaces are "
        "always temporary unless workspaces_dir is set.",
    ).tag(config=True)

    @default("ephemeral")
    def _default_ephemeral(self):
        return os.environ.get("JUPYTERLAB_INTERLINK_EPHEMERAL", "") not in ("", "0", "false")

    aliases = {
        "interlink-base-url": "InterlinkLabApp.interlink_base_url",
        "workspaces-dir": "InterlinkLabApp.workspaces_dir",
    }
    def _scratch_dir(self):
        if not getattr(self, "_scratch", None):
            self._scratch = tempfile.mkdtemp(prefix="jupyterlab-interlink-")
            atexit.register(shutil.rmtree, self._scratch, ignore_errors=True)
        return self._scratch

    @default("workspaces_dir")
    def _default_workspaces_dir(self):
        # A saved workspace reopens the last layout; a fresh one per run keeps starts (and
        # tests) predictable. Pass --workspaces-dir=PATH to keep layouts between runs.
        return os.path.join(self._scratch_dir(), "workspaces")

    @default("user_settings_dir")
    def _default_user_settings_dir(self):
        # Where JupyterLab itself keeps them, so a user's settings carry over.
        return os.environ.get("JUPYTERLAB_SETTINGS_DIR") or os.path.join(
            jupyter_config_dir(), "lab", "user-settings"
        )

    def initialize_settings(self):
        super().initialize_settings()
        if self.ephemeral:
            self.user_settings_dir = os.path.join(self._scratch_dir(), "user-settings")
        for directory in (self.workspaces_dir, self.user_settings_dir):
            os.makedirs(directory, exist_ok=True)
        self.settings["page_config_hook"] = self._page_config_hook

    def initialize_handlers(self):
        if not os.path.exists(os.path.join(STATIC, "index.html")):
            self.log.critical(
                "The front end is not built (%s/index.html missing): run `npm run build -w app`",
                STATIC,
            )
            sys.exit(1)
        enable_kernel_websocket_nodelay()
        self.handlers.extend(
            [
                ("/api/me", IdentityHandler),
                ("/api/events", EventsHandler),
                ("/api/events/subscribe", EventsSubscribeHandler),
            ]
        )
        super().initialize_handlers()

    def _page_config_hook(self, handler, page_config):
        # jupyterlab_server 2.16 keeps `notFoundUrl` from one bad /lab/... URL in the shared page
        # config, and every later page shows "Path Not Found". The not-found page sets it again
        # after this hook runs.
        page_config.pop("notFoundUrl", None)
        hub_auth = handler.settings.get("hub_auth")
        if hub_auth is not None:
            # A JupyterHub single-user server (jupyterlab_interlink.singleuser): the hub plugins
            # need these, and the token is the one this request came with (header or cookie).
            user = handler.current_user
            page_config["hubUser"] = user.get("name", "") if isinstance(user, dict) else ""
            page_config["hubPrefix"] = hub_prefix = handler.settings.get("hub_prefix", "")
            page_config["hubHost"] = handler.settings.get("hub_host", "")
            page_config["hubServerName"] = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
            page_config["shareUrl"] = hub_prefix.rstrip("/") + "/user-redirect"
            page_config["token"] = hub_auth.get_token(handler) or ""
        else:
            # So that ServerConnection sends `Authorization: token ...` (the page itself is only
            # served to an authenticated user).
            page_config["token"] = handler.token or ""
        page_config["interlinkBaseUrl"] = self.interlink_base_url
        page_config.setdefault("appVersion", __version__)
        return page_config


def prepare_args(args):
    """Command-line tweaks shared by the standalone and the hub single-user entry points."""
    args = list(args)
    # ipykernel's debugger warns about frozen modules on every kernel start; kernels inherit this.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # jupyter_server 1.x takes an extension's aliases on the command line but not its flags.
    args = ["--InterlinkLabApp.ephemeral=True" if a == "--ephemeral" else a for a in args]
    # Containers and CI often run as root; jupyter_server refuses unless told. Only then.
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not any(
        a.startswith("--allow-root") or a.startswith("--ServerApp.allow_root") for a in args
    ):
        args.insert(0, "--allow-root")
    return args


def main(argv=None):
    args = prepare_args(sys.argv[1:] if argv is None else argv)
    InterlinkLabApp.launch_instance(args)


if __name__ == "__main__":
    # Under `python -m` this file is __main__; jupyter_server finds extensions by package, so
    # run the copy imported under its real name.
    from jupyterlab_interlink.launcher import main as _main

    _main()
