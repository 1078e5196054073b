"""The run's genome browser inline in a Jupyter notebook.

:func:`browser` writes the viewer page when it is missing or older than the run's tracks
or catalog, serves the run folder from a background thread on localhost (one server per
run folder, reused by later calls) and returns an ``IFrame`` of the page.

The notebook page loads the frame from ``http://127.0.0.1:PORT``, so it works where the
web browser and the kernel share a machine (JupyterLab on a laptop or workstation).  For
a kernel on a remote machine (JupyterHub, a cluster node), forward the port
(``ssh -L PORT:127.0.0.1:PORT host`` with ``port=PORT``) or, with jupyter-server-proxy,
pass ``url_prefix="/user/NAME/proxy/{port}/"``.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode

from .._rundir import RunDir
from ..errors import GenointerpError

logger = logging.getLogger(__name__)

_SERVERS: dict[Path, object] = {}  # resolved run folder -> its running ViewerServer


def browser(
    run_dir: str | Path,
    locus: str | None = None,
    features: int | Iterable[int] | None = None,
    height: int = 500,
    *,
    explorer: bool = False,
    port: int = 0,
    url_prefix: str | None = None,
):
    """Show the run's genome browser (igv.js, with its exported tracks) in a notebook cell.

    Parameters
    ----------
    run_dir
        A run folder exported with ``genointerp export`` (it has ``tracks/tracks.json``).
    locus
        Where to start, ``"contig:start-end"`` (1-based) or a contig name; default: the
        export's default locus, or the first feature's strongest site.
    features
        Feature id(s) whose tracks to load; the first is selected.
    height
        Height of the frame in pixels.
    explorer
        Also show the feature explorer (table and evidence) under the browser; give it a
        ``height`` of 900 or so.
    port
        Port of the background server when this run has none yet (0: any free port).
    url_prefix
        Where the notebook's web page reaches the server, ``{port}`` filled in: e.g.
        ``"/user/me/proxy/{port}/"`` with jupyter-server-proxy.  Default:
        ``http://127.0.0.1:{port}/``.

    Returns
    -------
    IPython.display.IFrame
        The viewer page; display it (or leave it last in the cell).

    Examples
    --------
    >>> gi.pl.browser("genointerp_demo", features=[17])              # doctest: +SKIP
    """
    try:
        from IPython.display import IFrame
    except ImportError as err:
        raise GenointerpError(
            "gi.pl.browser shows the viewer in Jupyter and needs IPython. Fix: pip install "
            "ipython (or run 'genointerp view RUN_DIR' and open the address it prints)"
        ) from err
    run = RunDir(run_dir)
    _write_if_stale(run)
    server, url = _server(run, port)
    if url_prefix is not None:
        url = url_prefix.format(port=server.server_address[1]).rstrip("/") + "/viewer/index.html"
    return IFrame(f"{url}?{_query(locus, features, explorer)}", width="100%", height=height)


def _query(locus, features, explorer: bool) -> str:
    query = {}
    if locus:
        query["locus"] = str(locus)
    if features is not None:
        ids = [int(features)] if isinstance(features, numbers.Integral) else list(features)
        query["features"] = ",".join(str(int(f)) for f in ids)
    if not explorer:
        query["explorer"] = "0"
    return urlencode(query, safe=",:")


def _write_if_stale(run: RunDir) -> None:
    """Write the viewer when ``viewer/data.js`` is missing or older than its sources."""
    from ..view import write_viewer

    data = run.place("viewer") / "data.js"
    sources = [run.place("tracks") / "tracks.json", run.place("catalog") / "catalog.tsv"]
    newest = max((p.stat().st_mtime for p in sources if p.is_file()), default=0.0)
    if not data.is_file() or data.stat().st_mtime < newest:
        write_viewer(run)


def _server(run: RunDir, port: int):
    """The background server of ``run`` (started on first use)."""
    from ..view import serve

    root = run.path.resolve()
    if root not in _SERVERS:
        _SERVERS[root] = serve(root, port=port, background=True)
    return _SERVERS[root]


def _close_all() -> None:
    """Stop every background server :func:`browser` started."""
    while _SERVERS:
        server, _ = _SERVERS.popitem()[1]
        server.shutdown()
        server.server_close()
