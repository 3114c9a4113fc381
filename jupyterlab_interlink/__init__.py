"""jupyterlab-interlink: run JupyterLab kernels and batch jobs on remote HPC, HTC and cloud
sites through interLink.

The wheel ships the prebuilt labextension (share/jupyter/labextensions), the Node service as
built JavaScript (node/), and the jupyter_server extension that runs it (extension.py).
"""

from ._version import __version__  # written by the build, from extension/package.json


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "@jupyterlab-interlink/extension"}]


def _jupyter_server_extension_points():
    from .extension import InterlinkExtension

    return [{"module": "jupyterlab_interlink", "app": InterlinkExtension}]
