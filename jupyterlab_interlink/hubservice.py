"""The hub's interLink service, as the front door's target on a hub with subdomains.

With `c.JupyterHub.subdomain_host` each user's server has an origin of its own, and the service
another (`interlink--service.<domain>`). The front end then talks to its own server's
`{base_url}interlink/` (frontdoor.py): jupyter_server signs the user in and checks Origin and
XSRF as it does for its own API, so a page of another user's origin cannot drive it; the request
goes on to the service signed with this server's own API token (it holds
`access:services!service=interlink`, see hub.py), which names this server's user and nobody else.
"""

import asyncio
from urllib.parse import urlsplit


class HubService:
    """Where the service is and how to sign in to it; the same face as service.NodeService."""

    #: The service has its own names (see frontdoor.BROWSER_ORIGIN).
    passes_host = False

    def __init__(self, url, token):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"JUPYTERLAB_INTERLINK_SERVICE_URL: {url!r} is not an http(s) URL")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        #: The path the service answers under (`/services/interlink`).
        self.base_path = parts.path.rstrip("/")
        #: The hub issued it to this server: it stands for this server's user only.
        self.secret = token
        #: The hub runs the service: it is there, or its requests say it is not.
        self.ready = asyncio.Event()
        self.ready.set()
        self.failure = None

    @property
    def url(self):
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def netloc(self):
        return f"{self.host}:{self.port}"

    def hand_over(self, sock, head):
        # Another process, maybe another machine: sockets are spliced instead.
        return False
