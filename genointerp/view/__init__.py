"""The embedded genome browser and feature explorer.

:func:`write_viewer` writes ``RUN/viewer/``: an igv.js page (shipped with genointerp, works
offline) showing the run's exported tracks (``RUN/tracks/``, from ``genointerp export``)
beside a sortable, filterable table of its feature catalog.  :func:`serve` serves the run
folder on localhost with the HTTP byte ranges igv.js needs; ``genointerp view RUN`` does
both.  :func:`screenshot` saves a PNG of the page from headless Chromium.

Examples
--------
>>> import genointerp as gi
>>> page = gi.view.write_viewer("genointerp_demo")                       # doctest: +SKIP
>>> server, url = gi.view.serve("genointerp_demo", background=True)       # doctest: +SKIP
>>> gi.view.screenshot(url, "viewer.png", click_feature=17)              # doctest: +SKIP
"""

from ._data import viewer_data
from ._screenshot import find_chromium, screenshot, screenshot_run
from ._server import RangeRequestHandler, ViewerServer, parse_range, serve
from ._write import asset_files, write_viewer

__all__ = [
    "RangeRequestHandler",
    "ViewerServer",
    "asset_files",
    "find_chromium",
    "parse_range",
    "screenshot",
    "screenshot_run",
    "serve",
    "viewer_data",
    "write_viewer",
]
