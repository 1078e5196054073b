"""Write the viewer page: igv.js, the page's own script and style, and the run's data.

``RUN/viewer/`` holds ``index.html``, ``viewer.js``, ``viewer.css`` (shipped with
genointerp in ``genointerp/view/assets/``), ``igv.min.js`` with ``IGV_LICENSE.txt``
(igv.js 3.x, MIT, from the ``igv-notebook`` package that bundles it) and ``data.js``
(:func:`~genointerp.view._data.viewer_data` as ``window.GENOINTERP_DATA``).  The page
loads ``../tracks/`` and ``../catalog/logos/`` with relative URLs, so it needs a server
for the run folder (:func:`~genointerp.view.serve`) but never the network.
"""

from __future__ import annotations

import json
import logging
import shutil
from importlib import metadata, resources
from pathlib import Path

from .._atomic import atomic_path
from ..errors import GenointerpError
from ._data import as_run, viewer_data

logger = logging.getLogger(__name__)

ASSETS = ("index.html", "viewer.js", "viewer.css")
IGV_PACKAGE = "igv_notebook"
IGV_DISTRIBUTION = "igv-notebook"


def write_viewer(run_dir, *, n_sites: int = 10) -> Path:
    """Write the viewer page ``RUN/viewer/index.html`` for the run folder ``run_dir``.

    The run must have been exported first (``RUN/tracks/tracks.json``, from
    ``genointerp export`` or :func:`genointerp.export.export_run`); ``RUN/catalog/`` fills
    the feature explorer.  Open the page through :func:`serve` (``genointerp view RUN``):
    igv.js reads the tracks with HTTP range requests, which ``file://`` cannot answer.

    Parameters
    ----------
    run_dir
        The run folder.
    n_sites
        Strongest sites listed per known or candidate-novel feature.

    Returns
    -------
    Path
        ``RUN/viewer/index.html``.

    Examples
    --------
    >>> page = gi.view.write_viewer("genointerp_demo")          # doctest: +SKIP
    """
    run = as_run(run_dir)
    data = viewer_data(run, n_sites=n_sites)
    folder = run.place("viewer")
    folder.mkdir(parents=True, exist_ok=True)
    _copy(igv_bundle(), folder / "igv.min.js")
    with atomic_path(folder / "IGV_LICENSE.txt") as tmp:
        tmp.write_text(igv_licence())
    assets = resources.files("genointerp.view") / "assets"
    for name in ASSETS:
        with resources.as_file(assets / name) as source:
            _copy(source, folder / name)
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    with atomic_path(folder / "data.js") as tmp:
        tmp.write_text(f"window.GENOINTERP_DATA = {text};\n")
    logger.info(
        "wrote %s: %d tracks, %d features", folder / "index.html", len(data["tracks"]),
        len(data["rows"]),
    )  # fmt: skip
    return folder / "index.html"


def asset_files() -> dict[str, Path]:
    """Every file the viewer copies, as installed: ``{name: path}`` (igv.js and the page)."""
    assets = resources.files("genointerp.view") / "assets"
    return {"igv.min.js": igv_bundle(), **{name: Path(str(assets / name)) for name in ASSETS}}


def igv_bundle() -> Path:
    """``igv.min.js`` (igv.js 3.x) as installed with the ``igv-notebook`` package."""
    try:
        path = resources.files(IGV_PACKAGE) / "js" / "igv.min.js"
    except ModuleNotFoundError as err:
        raise GenointerpError(
            "the viewer needs igv.js, which genointerp takes from the igv-notebook package; "
            "it is not installed. Fix: pip install igv-notebook"
        ) from err
    if not path.is_file():
        raise GenointerpError(
            f"{path}: igv-notebook is installed but has no js/igv.min.js. "
            "Fix: pip install --force-reinstall igv-notebook"
        )
    return Path(str(path))


def igv_licence() -> str:
    """igv.js's licence (MIT) as shipped by ``igv-notebook``, with where the bundle came from."""
    dist = metadata.distribution(IGV_DISTRIBUTION)
    files = [f for f in dist.files or [] if Path(f.name).stem.upper() in ("LICENSE", "LICENCE")]
    if not files:
        raise GenointerpError(
            f"{IGV_DISTRIBUTION} {dist.version}: no licence file in its metadata. "
            "Fix: pip install --force-reinstall igv-notebook"
        )
    version = resources.files(IGV_PACKAGE) / "VERSION_IGV"
    igv = version.read_text().strip() if version.is_file() else "3.x"
    header = (
        f"igv.min.js is igv.js {igv} (https://github.com/igvteam/igv.js), as bundled by the\n"
        f"{IGV_DISTRIBUTION} {dist.version} Python package "
        "(https://github.com/igvteam/igv-notebook).\nBoth are released under the MIT licence:\n\n"
    )
    return header + Path(files[0].locate()).read_text()


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically, unless ``target`` already has its bytes."""
    source = Path(source)
    same_size = target.is_file() and target.stat().st_size == source.stat().st_size
    if same_size and target.read_bytes() == source.read_bytes():
        return
    with atomic_path(target, suffix=target.suffix) as tmp:
        shutil.copyfile(source, tmp)
