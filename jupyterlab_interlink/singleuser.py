"""JupyterHub single-user server: the launcher's JupyterLab behind the hub's login.

    /usr/bin/python3 -m jupyterlab_interlink.singleuser [any ServerApp option]

``configure_interlink`` (jupyterlab_interlink.hub) makes this the spawner's command. It is
JupyterHub's own single-user mix-in (``make_singleuser_app``: OAuth with the hub, activity
reports, the hub's URL, port and prefix from the environment) around a Jupyter server that loads
only this package's JupyterLab, the way ``jupyter labhub`` does for a stock JupyterLab.
"""

import sys

from jupyter_server.serverapp import ServerApp
from jupyterhub.singleuser.mixins import make_singleuser_app
from traitlets import default

from .launcher import InterlinkLabApp, prepare_args

HubServerApp = make_singleuser_app(ServerApp)


class InterlinkSingleUserApp(HubServerApp):
    aliases = {**HubServerApp.aliases, **InterlinkLabApp.aliases}

    @default("default_url")
    def _default_url(self):
        return InterlinkLabApp.app_url

    @default("jpserver_extensions")
    def _default_jpserver_extensions(self):
        return {InterlinkLabApp.get_extension_package(): True}

    def find_server_extensions(self):
        # Like the standalone launcher, serve this JupyterLab alone: other server extensions
        # installed system-wide expect their own front ends.
        self.jpserver_extensions = {InterlinkLabApp.get_extension_package(): True}


def main(argv=None):
    args = prepare_args(sys.argv[1:] if argv is None else argv)
    InterlinkSingleUserApp.launch_instance(args)


if __name__ == "__main__":
    # Run the copy imported under the package's name (see launcher.py).
    from jupyterlab_interlink.singleuser import main as _main

    _main()
