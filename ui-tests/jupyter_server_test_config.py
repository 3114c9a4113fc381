"""`jupyter lab` for the UI tests: Galata's settings (no token, the app exposed to the page,
its test helpers loaded), plus a port, a notebook folder and fresh user settings per run."""

import json
import os
import tempfile

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 (c is the config object jupyter passes in)

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ["UI_TESTS_PORT"])
c.ServerApp.root_dir = os.environ["UI_TESTS_NOTEBOOK_DIR"]
# CI runs as root; jupyter_server refuses that unless told.
c.ServerApp.allow_root = True
settings = c.LabApp.user_settings_dir = tempfile.mkdtemp(prefix="ui-tests-settings-")
# What Galata's mocked settings would say: no news or update pop-ups over the page.
os.makedirs(os.path.join(settings, "@jupyterlab", "apputils-extension"))
with open(os.path.join(settings, "@jupyterlab", "apputils-extension", "notification.jupyterlab-settings"), "w") as f:
    json.dump({"checkForUpdates": False, "fetchNews": "false"}, f)
