"""jupyterlab-interlink: run JupyterLab kernels and batch jobs on remote HPC, HTC and cloud
sites through interLink.

The Python side ships the prebuilt front end and a standalone JupyterLab launcher
(``python3 -m jupyterlab_interlink.launcher``).
"""

__version__ = "0.1.0"


def _jupyter_server_extension_points():
    from .launcher import InterlinkLabApp

    return [{"module": "jupyterlab_interlink.launcher", "app": InterlinkLabApp}]
