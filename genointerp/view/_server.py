"""A small local HTTP server for a run folder, with the byte ranges genome browsers ask for.

igv.js reads bigWig, bigBed and indexed FASTA files in pieces, with ``Range: bytes=a-b``
requests; Python's :mod:`http.server` ignores that header and sends whole files.  The
handler here answers a single range with ``206 Partial Content`` and ``Content-Range``,
an unsatisfiable one with ``416``, and anything else (no range, several ranges, a
malformed header) with the whole file, as RFC 9110 allows.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import shutil
import socket
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

from .._rundir import RunDir
from ..errors import GenointerpError

logger = logging.getLogger(__name__)

VIEWER_PAGE = "viewer/index.html"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """:class:`~http.server.SimpleHTTPRequestHandler` that also answers single byte ranges.

    ``Range: bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the last ``n`` bytes) are
    honoured; every file response says ``Accept-Ranges: bytes``.
    """

    _part: tuple[int, int] | None = None  # (first byte, length) of a 206 response

    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):  # folders, redirects, 404s: the base class
            return super().send_head()
        try:
            handle = open(path, "rb")  # noqa: SIM115 - returned to the base class, which closes it
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            stat = os.fstat(handle.fileno())
            part = parse_range(self.headers.get("Range"), stat.st_size)
            if part == "unsatisfiable":
                handle.close()
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{stat.st_size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            self._part = part
            self._send_file_headers(path, stat, part)
            return handle
        except Exception:
            handle.close()
            raise

    def _send_file_headers(self, path: str, stat: os.stat_result, part) -> None:
        if part is None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Length", str(stat.st_size))
        else:
            start, length = part
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{start + length - 1}/{stat.st_size}")
            self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def copyfile(self, source, outputfile) -> None:
        if self._part is None:
            shutil.copyfileobj(source, outputfile)
            return
        start, remaining = self._part
        source.seek(start)
        while remaining > 0:
            chunk = source.read(min(remaining, 1 << 16))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        logger.debug("%s %s", self.address_string(), format % args)


def parse_range(header: str | None, size: int):
    """The ``(start, length)`` a ``Range`` header asks for in a file of ``size`` bytes.

    Returns ``None`` to send the whole file (no header, several ranges, or a header
    this server does not read) and ``"unsatisfiable"`` for a range outside the file.

    Examples
    --------
    >>> parse_range("bytes=10-19", 100), parse_range("bytes=-5", 100), parse_range("bytes=90-", 100)
    ((10, 10), (95, 5), (90, 10))
    >>> parse_range("bytes=100-", 100)
    'unsatisfiable'
    """
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.group(0) == "bytes=-":
        return None
    first, last = match.groups()
    if not first:  # suffix: the last n bytes
        n = int(last)
        return (max(size - n, 0), min(n, size)) if n > 0 and size > 0 else "unsatisfiable"
    start = int(first)
    if last and int(last) < start:  # invalid syntax: ignored, as RFC 9110 says
        return None
    if start >= size:
        return "unsatisfiable"
    end = min(int(last), size - 1) if last else size - 1
    return start, end - start + 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class ViewerServer(NamedTuple):
    """A server and the address of its viewer page.

    ``server.serve_forever()`` serves in the calling thread; ``server.shutdown()`` stops a
    server serving in the background, ``server.server_close()`` frees its port.
    """

    server: ThreadingHTTPServer
    url: str


def serve(
    run_dir: str | Path, host: str = "127.0.0.1", port: int = 0, *, background: bool = False
) -> ViewerServer:
    """Serve the run folder ``run_dir`` over HTTP, with byte ranges, for the viewer.

    Parameters
    ----------
    run_dir
        The run folder; its ``viewer/`` page (see :func:`write_viewer`) loads
        ``../tracks/`` and ``../catalog/`` from the same server.
    host
        Address to listen on.  The default, loopback, is reachable from this machine
        only; ``0.0.0.0`` exposes the run to the network.
    port
        Port to listen on; 0 picks a free one.
    background
        Serve from a daemon thread and return at once; otherwise call
        ``server.serve_forever()`` yourself.

    Returns
    -------
    ViewerServer
        ``(server, url)``; ``url`` is the viewer page, ``http://HOST:PORT/viewer/index.html``.

    Examples
    --------
    >>> server, url = gi.view.serve("genointerp_demo", background=True)      # doctest: +SKIP
    >>> server.shutdown()                                                   # doctest: +SKIP
    """
    root = RunDir(run_dir).path.resolve()
    handler = partial(RangeRequestHandler, directory=str(root))
    cls = _Server6 if ":" in host else _Server
    try:
        server = cls((host, port), handler)
    except OSError as err:
        raise GenointerpError(
            f"cannot listen on {host}:{port} ({err.strerror or err}). Fix: pick another port "
            "(port 0 picks a free one) or host"
        ) from err
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("listening on %s: anyone who can reach this machine can read %s", host, root)
    bound = server.server_address[1]
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{bound}/{VIEWER_PAGE}"
    if background:
        name = f"genointerp-view-{bound}"
        threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    logger.info("serving %s at %s", root, url)
    return ViewerServer(server, url)
