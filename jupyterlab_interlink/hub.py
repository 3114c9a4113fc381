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
client and API token, and routes ``/services/<name>/`` to it), lets users reach it, and points the
single-user JupyterLab at it. The sites are checked when the service starts: a bad site stops it
with a message naming the site and the field.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

REPO_ROOT = Path(__file__).resolve().parent.parent
PROXY_CLI = REPO_ROOT / "proxy-server" / "dist" / "cli.js"


def service_definition(
    sites: Iterable[dict[str, Any]] | str,
    *,
    name: str = "interlink",
    port: int = 10101,
    tunnel_url: str | None = None,
    node: str | None = None,
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ``c.JupyterHub.services`` entry of the proxy server.

    ``sites`` is a list of site mappings, or the path of a YAML file holding them.
    ``tunnel_url`` is how agents in remote jobs reach the hub from outside, e.g.
    ``wss://hub.example.org/services/interlink/tunnel``.
    """
    env = {"INTERLINK_LOG_LEVEL": "info", **(environment or {})}
    if isinstance(sites, str):
        env["INTERLINK_SITES"] = sites
    else:
        env["INTERLINK_SITES_JSON"] = json.dumps({"sites": list(sites)})
    if tunnel_url:
        env["INTERLINK_PUBLIC_TUNNEL_URL"] = tunnel_url
    return {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "command": [node or shutil.which("node") or "node", str(PROXY_CLI)],
        "oauth_no_confirm": True,
        "environment": env,
    }


def configure_interlink(c: Any, sites: Iterable[dict[str, Any]] | str, **options: Any) -> None:
    """Adds the service, the role that lets users reach it, and the single-user settings."""
    service = service_definition(sites, **options)
    name = service["name"]
    services = list(c.JupyterHub.services or [])
    services.append(service)
    c.JupyterHub.services = services

    # JupyterHub 3's default user role lacks access to services; users need this one.
    roles = list(c.JupyterHub.load_roles or [])
    roles.append(
        {
            "name": "user",
            "scopes": ["self", f"access:services!service={name}"],
        }
    )
    c.JupyterHub.load_roles = roles

    # The single-user JupyterLab with the extension, told where the service answers.
    env = dict(c.Spawner.environment or {})
    env.setdefault("INTERLINK_BASE_URL", f"/services/{name}/")
    env.setdefault("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    c.Spawner.environment = env
