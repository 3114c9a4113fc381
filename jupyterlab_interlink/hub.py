"""Declare jupyterlab-interlink in a JupyterHub configuration.

In ``jupyterhub_config.py``::

    from jupyterlab_interlink.hub import configure_interlink
    configure_interlink(c, sites=[{
        "id": "leonardo", "displayName": "Leonardo", "kind": "hpc", "driver": "kubernetes",
        "nodeSelector": {"kubernetes.io/hostname": "leonardo-vk"},
        "profiles": [{"id": "a100-1", "displayName": "1xA100",
                      "resources": {"cpu": 8, "memory": "120Gi", "gpu": 1},
                      "maxWalltime": "24h"}],
    }])

This registers the proxy server as a hub-managed service (the hub starts it, gives it its OAuth
client and API token, and routes ``/services/<name>/`` to it) and lets every user reach it. The
single-user servers stay the stock ``jupyterhub-singleuser``: with this package installed beside
it, the extension finds the service by itself. The sites
are checked when the service starts: a bad site stops it with a message naming the site and the
field. Call it after setting ``c.JupyterHub.base_url``, if you set one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from traitlets.config import LazyConfigValue

# The proxy server, bundled into the wheel (node/cli.js).
PROXY_CLI = Path(__file__).resolve().parent / "node" / "cli.js"
DEFAULT_NAME = "interlink"


def service_definition(
    sites: Iterable[dict[str, Any]] | str,
    *,
    name: str = DEFAULT_NAME,
    port: int = 10101,
    tunnel_url: str | None = None,
    node: str | None = None,
    environment: dict[str, str] | None = None,
    state_dir: str | os.PathLike | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """The ``c.JupyterHub.services`` entry of the proxy server.

    ``sites`` is a list of site mappings, or the path of a YAML file holding them.
    ``tunnel_url`` is how agents in remote jobs reach the hub from outside, e.g.
    ``wss://hub.example.org/services/interlink/tunnel``.
    ``state_dir`` is where the service keeps its per-session files and the key that signs its
    pods: it must outlast restarts, or sessions are not re-adopted after one (default:
    ``<name>-state`` in the hub's working folder, beside ``jupyterhub.sqlite``).
    ``user`` is the Unix account the hub starts the service as (default: the hub's own). Sites
    that map hub users to accounts (``runAs``) with the ``local`` or ``slurm`` driver need it to
    be root, since only root starts processes or submits jobs as another account.
    """
    env = {
        "INTERLINK_LOG_LEVEL": "info",
        "INTERLINK_STATE_DIR": os.path.abspath(state_dir or f"{name}-state"),
        **(environment or {}),
    }
    if isinstance(sites, (str, os.PathLike)):
        env["INTERLINK_SITES"] = os.fspath(sites)
    else:
        env["INTERLINK_SITES_JSON"] = json.dumps({"sites": list(sites)})
    if tunnel_url:
        env["INTERLINK_PUBLIC_TUNNEL_URL"] = tunnel_url
    command = [node or shutil.which("node") or "node", str(PROXY_CLI)]
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "command": command,
        "oauth_no_confirm": True,
        # An API and a proxy, no page of its own: keep it out of the hub's Services menu.
        "display": False,
        "environment": env,
        **({"user": user} if user else {}),
    }


def _configured(section: Any, key: str, initial: Any) -> Any:
    """A value the admin set, or ``initial``; resolves ``c.X.y.append(...)``-style lazy values."""
    if key not in section:
        return initial
    value = section[key]
    if isinstance(value, LazyConfigValue):
        return value.get_value(initial)
    return value


def configure_interlink(c: Any, sites: Iterable[dict[str, Any]] | str, **options: Any) -> None:
    """Adds the service and the scope that lets every user reach it (JupyterHub >= 6).

    ``options`` go to :func:`service_definition` (``name``, ``port``, ``tunnel_url``, ``node``,
    ``environment``, ``state_dir``, ``user``).
    """
    service = service_definition(sites, **options)
    name = service["name"]
    services = list(_configured(c.JupyterHub, "services", []))
    if any(s.get("name") == name for s in services):
        raise ValueError(f"c.JupyterHub.services already has a service named {name!r}")
    services.append(service)
    c.JupyterHub.services = services

    # The default user role ('self') reaches no service; JupyterHub 6 adds scopes to it without
    # redeclaring the role. The service itself calls the hub only with its users' tokens and its
    # OAuth client secret, so it holds no role of its own.
    extra = set(_configured(c.JupyterHub, "extra_user_scopes", set()))
    c.JupyterHub.extra_user_scopes = extra | {f"access:services!service={name}"}

    # The single-user server is the stock jupyterhub-singleuser with this package installed; its
    # server extension looks for the service at <hub base>/services/interlink/ unless told here.
    base_url = _configured(c.JupyterHub, "base_url", "/") or "/"
    prefix = f"{base_url.rstrip('/')}/services/{name}/"
    env = dict(_configured(c.Spawner, "environment", {}))
    if name != DEFAULT_NAME:
        env.setdefault("JUPYTERLAB_INTERLINK_URL", prefix)
    # With subdomain_host every user's server has an origin of its own and the service another:
    # the server's extension then fronts the service on the user's origin (frontdoor.py),
    # reaching it here, signed in with the server's own API token.
    env.setdefault("JUPYTERLAB_INTERLINK_SERVICE_URL", service["url"] + prefix)
    c.Spawner.environment = env
    c.Spawner.server_token_scopes = _with_scope(
        _configured(c.Spawner, "server_token_scopes", None), f"access:services!service={name}"
    )


# The hub's `server` role: what a single-user server's token holds when nothing else is said.
SERVER_ROLE_SCOPES = ["users:activity!user", "access:servers!server"]


def _with_scope(scopes: Any, scope: str) -> Any:
    """`Spawner.server_token_scopes` as the admin set it (a list, a callable, or unset: the
    hub's server role) plus `scope`; the hub grants a server's token only what its user holds."""
    if callable(scopes):
        def server_token_scopes(spawner: Any) -> list[str]:
            return [*scopes(spawner), scope]
        return server_token_scopes
    return [*(SERVER_ROLE_SCOPES if scopes is None else scopes), scope]
