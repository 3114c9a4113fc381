"""`PUT {base_url}interlink/files-write/<path>?offset=N`: a file copy's raw write into JupyterLab's
own files, the rules a session's agent follows for its files (contract/src/files-write.ts): the
body goes at byte N; 0 creates or empties the file, anything else must be its size, else 409
with the size; the answer is `{"size": …}`.

The body streams to the file as it arrives (no base64, nothing held in memory), so everything
that can refuse is decided in `prepare`, before the first byte is read: who calls (jupyter_server's
identity, XSRF and origin checks), whether they may write contents, the path (the contents
manager's own `_get_os_path`, hidden files as it allows them, the real parent folder inside the
real root, the file itself no symbolic link) and the offset.
"""

import errno
import json
import os
import re
import stat

from jupyter_core.paths import is_hidden
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

OFFSET = re.compile(r"0|[1-9][0-9]{0,15}")


class Refused(web.HTTPError):
    """A refusal with its JSON body: `error`, `message`, and `field` or `size` where they apply."""

    def __init__(self, status, error, message, **extra):
        super().__init__(status, message)
        self.body = {"error": error, "message": message, **extra}


def invalid(field, message):
    return Refused(400, "invalid_field", f"{field}: {message}", field=field)


def parse_offset(text):
    if text is None:
        raise invalid("offset", "required, the byte the body starts at (0 creates the file)")
    if not OFFSET.fullmatch(text):
        raise invalid("offset", f'a whole number of bytes, 0 or more; "{text}" is not one')
    return int(text)


@web.stream_request_body
class FilesWrite(APIHandler):
    # Anything else is 405 before `prepare`: a GET must never open (and so empty) a file.
    SUPPORTED_METHODS = ("PUT",)
    auth_resource = "contents"
    _file = None

    async def prepare(self):
        await super().prepare()  # 403 for nobody, before anything below
        await self._open(*self.path_args)

    @authorized
    async def _open(self, path):
        cm = self.contents_manager
        if not hasattr(cm, "_get_os_path"):
            raise Refused(501, "not_supported", "this server's contents are not files on disk")
        if not path:
            raise invalid("path", "a file path below the root is required")
        if path.startswith("/"):
            raise invalid("path", "an absolute path is not allowed; give it below the root")
        for part in path.split("/"):
            if part in ("", ".", ".."):
                raise invalid("path", f'"{part}" is not allowed as a part of the path')
        offset = parse_offset(self.get_query_argument("offset", None))
        os_path = cm._get_os_path(path)
        if not cm.allow_hidden and is_hidden(os_path, cm.root_dir):
            raise Refused(400, "hidden", f"{path} is hidden, and this server hides such files")
        root = os.path.realpath(cm.root_dir)
        parent = os.path.realpath(os.path.dirname(os_path))
        if not os.path.isdir(parent):
            raise Refused(404, "not_found", f"no folder for {path}")
        if parent != root and not parent.startswith(root + os.sep):
            raise Refused(403, "outside_root", f"{path} leads outside the root")
        # Non-blocking, so a FIFO put in the file's place cannot hang the open; refused below.
        flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK
        if offset == 0:
            flags |= os.O_CREAT | os.O_TRUNC
        try:
            fd = os.open(os.path.join(parent, os.path.basename(os_path)), flags, 0o666)
        except FileNotFoundError:
            raise Refused(404, "not_found",
                          f"no file {path}: a copy starts at offset 0, which creates it") from None
        except IsADirectoryError:
            raise invalid("path", f"{path} is a folder") from None
        except PermissionError:
            raise Refused(403, "forbidden", f"{path}: permission denied") from None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise Refused(403, "forbidden", f"{path} is a symbolic link") from None
            raise
        file = os.fdopen(fd, "wb")
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            file.close()
            raise invalid("path", f"{path} is not a regular file")
        if info.st_size != offset:
            file.close()
            raise Refused(409, "offset_mismatch",
                          f"offset: {path} holds {info.st_size} bytes, so a write goes at "
                          f"{info.st_size}, not {offset}", field="offset", size=info.st_size)
        file.seek(offset)
        self._file = file

    def data_received(self, chunk):
        # tornado may still read the body of a refused request: it goes nowhere.
        if self._file is not None:
            self._file.write(chunk)

    @web.authenticated
    async def put(self, path):
        size = self._file.tell()
        self._file.close()
        self.finish(json.dumps({"size": size}))

    def on_finish(self):
        # A body cut short: what arrived stays, the copy asks the size and goes on from there.
        if self._file is not None:
            self._file.close()

    on_connection_close = on_finish

    def write_error(self, status_code, **kwargs):
        # Refused before its body was read: tornado closes the connection once it answers, and
        # says so here, or a proxy in front (the hub's) would send the next request down it.
        self.set_header("Connection", "close")
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, Refused):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(error.body))
        else:
            super().write_error(status_code, **kwargs)


def handlers():
    """Before the front door's `{base_url}interlink/…`, which would otherwise take it."""
    return [(r"/interlink/files-write/(.*)", FilesWrite)]
