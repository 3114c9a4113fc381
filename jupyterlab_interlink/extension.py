"""The jupyter_server extension (enabled by the wheel through jupyter_server_config.d).

Standalone it starts and supervises the Node service and serves it at `{base_url}interlink/` on
JupyterLab's own origin (frontdoor.py). Under JupyterHub (JUPYTERHUB_SERVICE_PREFIX set: a
single-user server) the service is the hub's, started by the hub. On a hub whose users share its
origin the front end goes to the service's path there directly; on a hub with subdomains
(JUPYTERHUB_HOST set) it would be another origin, so this server fronts the hub's service on its
own (hubservice.py). Either way the front end reads page config `interlinkBaseUrl`.
"""

import asyncio
import os
from urllib.parse import urlsplit

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Unicode, default

from . import __version__, fileswrite, frontdoor
from .hubservice import HubService
from .service import NodeMissing, NodeService, find_node


def hub_service_url(environ=os.environ):
    """Where a single-user server's front end finds the hub's interLink service."""
    explicit = environ.get("JUPYTERLAB_INTERLINK_URL")
    if explicit:
        return explicit
    return url_path_join(environ.get("JUPYTERHUB_BASE_URL", "/"), "services/interlink/")


def hub_has_subdomains(environ=os.environ):
    """Each user's server on an origin of its own (`c.JupyterHub.subdomain_host`): the hub then
    gives this server a public URL on another host than its own."""
    server = urlsplit(environ.get("JUPYTERHUB_PUBLIC_URL", ""))
    hub = urlsplit(environ.get("JUPYTERHUB_PUBLIC_HUB_URL", ""))
    return bool(server.netloc and hub.netloc and server.netloc != hub.netloc)


class InterlinkExtension(ExtensionApp):
    name = "jupyterlab_interlink"
    description = "Remote kernels and batch jobs on HPC, HTC and cloud sites through interLink"
    version = __version__
    load_other_extensions = True

    sites = Unicode(
        help="YAML file declaring the sites (default: $INTERLINK_SITES, else the embedded "
        "'local' site: this machine).",
    ).tag(config=True)

    @default("sites")
    def _default_sites(self):
        return os.environ.get("INTERLINK_SITES", "")

    state_dir = Unicode(
        help="Where the service keeps per-session files, and what a restart re-adopts sessions "
        "from (default: $INTERLINK_STATE_DIR, else a private temporary folder per server).",
    ).tag(config=True)

    @default("state_dir")
    def _default_state_dir(self):
        return os.environ.get("INTERLINK_STATE_DIR", "")

    node = Unicode(help="The Node.js executable (default: `node` on PATH).").tag(config=True)

    service = None
    under_hub = False

    def initialize_settings(self):
        self.under_hub = bool(os.environ.get("JUPYTERHUB_SERVICE_PREFIX"))
        base_url = self.serverapp.base_url
        if self.under_hub and not hub_has_subdomains():
            interlink_url = hub_service_url()
            self.log.info("interLink: under JupyterHub; the front end uses the hub's service at %s",
                          interlink_url)
        else:
            interlink_url = url_path_join(base_url, "interlink/")
        page_config = self.serverapp.web_app.settings.setdefault("page_config_data", {})
        page_config["interlinkBaseUrl"] = interlink_url

    def initialize_handlers(self):
        # JupyterLab's own files, under a hub too: where copies from a session land.
        self.handlers.extend(fileswrite.handlers())
        if self.under_hub:
            if hub_has_subdomains():
                self._front_hub_service()
            return
        try:
            node, version = find_node(self.node or None)
        except NodeMissing as err:
            self.log.error("interLink: %s", err)
            self.handlers.extend(frontdoor.handlers("/", unavailable=str(err)))
            return
        self.log.info("interLink: using %s (%s)", node, version)
        self.service = NodeService(
            node=node,
            base_path=url_path_join(self.serverapp.base_url, "interlink"),
            root_dir=os.path.abspath(os.path.expanduser(self.serverapp.root_dir)),
            sites=self.sites or None,
            state_dir=self.state_dir or None,
            log=self.log,
        )
        self.handlers.extend(frontdoor.handlers("/", service=self.service))

    def _front_hub_service(self):
        url = os.environ.get("JUPYTERLAB_INTERLINK_SERVICE_URL")
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not url or not token:
            missing = "JUPYTERLAB_INTERLINK_SERVICE_URL" if not url else "JUPYTERHUB_API_TOKEN"
            message = (f"{missing} is not set: on a hub with subdomains this server fronts the "
                       "interLink service, and configure_interlink (jupyterlab_interlink.hub) "
                       "tells it where the service is.")
            self.log.error("interLink: %s", message)
            self.handlers.extend(frontdoor.handlers("/", unavailable=message))
            return
        try:
            service = HubService(url, token)
        except ValueError as err:
            self.log.error("interLink: %s", err)
            self.handlers.extend(frontdoor.handlers("/", unavailable=str(err)))
            return
        self.log.info("interLink: a hub with subdomains; fronting its service at %s", url)
        self.handlers.extend(frontdoor.handlers("/", service=service))

    async def _start_jupyter_server_extension(self, serverapp):
        if self.service is None:
            return
        try:
            await self.service.start()
        except Exception as err:  # its own log says more; the panel says this
            self.log.error("interLink: the Node service did not start: %s", err)

    async def stop_extension(self):
        if self.service is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.service.stop)
