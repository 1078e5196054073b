"""The data the viewer page reads: the exported tracks and the feature catalog, as one JSON.

``RUN/tracks/tracks.json`` (written by :func:`genointerp.export.export_run`) says which
genome and which tracks there are; ``RUN/catalog/catalog.tsv`` and ``top_sites.tsv``
(written by ``genointerp rank``) give the explorer's rows, each feature's evidence and
its strongest sites.  URLs in the result are relative to ``RUN/viewer/``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from .._rundir import RunDir
from ..errors import GenointerpError

logger = logging.getLogger(__name__)

DATA_FORMAT = "genointerp-viewer-data"
DATA_VERSION = "0.1.0"

# catalog columns the explorer shows (table or evidence panel), in this order, when present
COLUMNS = (
    "feature",
    "class",
    "best_concept",
    "family",
    "family_best",
    "known_by",
    "test_element_f1",
    "q_value",
    "novelty",
    "density",
    "val_element_f1",
    "test_precision",
    "test_element_recall",
    "test_auroc",
    "p_value",
    "threshold",
    "fraction",
    "max",
    "shape",
    "motif_ic",
    "reproducibility",
    "strand_bias",
    "mean_run",
    "phase_max",
    "coding_fraction",
    "jaspar_id",
    "jaspar_name",
    "jaspar_p",
    "jaspar_q",
    "motif_match",
    "motif_q",
)
# classes whose features get the most sites listed; the others get a few
_FOCUS = ("known", "candidate_novel")


def read_tracks_index(run: RunDir) -> dict:
    """``RUN/tracks/tracks.json`` (format checked by :func:`genointerp.export.read_tracks_json`),
    with every path in it present."""
    from ..export import read_tracks_json

    path = run.file("tracks") / "tracks.json"
    index = read_tracks_json(path)
    genome = index["genome"]
    paths = [genome["fasta"], genome["fai"]] + [t["path"] for t in index.get("tracks", [])]
    missing = [p for p in paths if not (path.parent / p).is_file()]
    if missing:
        raise GenointerpError(
            f"{path}: names {len(missing)} file(s) that do not exist, e.g. "
            f"{path.parent / missing[0]}. Fix: run 'genointerp export {run.path}' again"
        )
    return index


def as_run(run_dir: str | Path | RunDir) -> RunDir:
    return run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)


def viewer_data(run_dir: str | Path | RunDir, *, n_sites: int = 10) -> dict:
    """Everything the viewer page shows, as a JSON-able dict (URLs relative to the page).

    Parameters
    ----------
    run_dir
        A run folder with ``tracks/tracks.json`` and, for the explorer table,
        ``catalog/catalog.tsv`` (without it the table lists the exported features only).
    n_sites
        Strongest sites listed per known or candidate-novel feature (a third of that,
        at least 3, for the other classes).
    """
    run = as_run(run_dir)
    index = read_tracks_index(run)
    names = {c.get("genome_name", c["name"]): c["name"] for c in index["genome"]["contigs"]}
    table = _feature_table(run, index)
    sites = _sites(run, index, table, names, n_sites)
    logos = run.place("catalog") / "logos"
    tracks = [{**t, "url": _url(t["path"])} for t in preferred(index.get("tracks", []))]
    genome = index["genome"]
    return {
        "format": DATA_FORMAT,
        "version": DATA_VERSION,
        "run": run.path.resolve().name,
        "genome": {
            "id": genome.get("id") or "genome",
            "name": genome.get("name") or genome.get("id") or "genome",
            "fastaURL": _url(genome["fasta"]),
            "indexURL": _url(genome["fai"]),
            "contigs": genome["contigs"],
        },
        "default_locus": index.get("default_locus") or _first_locus(genome),
        "tracks": tracks,
        "columns": list(table.columns),
        "rows": _rows(table),
        "sites": sites,
        "logos": {
            str(f): f"../catalog/logos/feature_{f}.png"  # ids are integers: nothing to quote
            for f in table["feature"]
            if (logos / f"feature_{f}.png").is_file()
        },
    }


def preferred(tracks: list[dict]) -> list[dict]:
    """One file per track: of files that differ only in format, the binary one (bigWig over
    bedGraph, bigBed over BED: igv.js reads only the part on screen), in the index's order."""
    rank = {"bigwig": 0, "bedgraph": 1, "bigbed": 0, "bed": 1}
    kind = {"bigwig": "signal", "bedgraph": "signal", "bigbed": "sites", "bed": "sites"}
    best: dict[tuple, dict] = {}
    for track in tracks:
        key = tuple(track.get(k) for k in ("group", "name", "feature", "concept", "strand"))
        key += (kind.get(track["format"], track["format"]),)
        if key not in best or rank.get(track["format"], 9) < rank.get(best[key]["format"], 9):
            best[key] = track
    chosen = {id(t) for t in best.values()}
    return [t for t in tracks if id(t) in chosen]


def _feature_table(run: RunDir, index: dict) -> pd.DataFrame:
    """The catalog's rows (or the exported features'), with the columns in :data:`COLUMNS`
    plus ``enrich_best`` / ``median_dist_best`` (at the best concept) and ``tracks``."""
    path = run.place("catalog") / "catalog.tsv"
    if path.is_file():
        full = pd.read_csv(path, sep="\t", low_memory=False)
    else:
        logger.warning("%s: not found; the explorer lists the exported features only", path)
        full = pd.DataFrame(index.get("features", []))
    if "feature" not in full.columns:
        raise GenointerpError(f"{path}: no 'feature' column. Fix: run 'genointerp rank' again")
    table = full[[c for c in COLUMNS if c in full.columns]].copy()
    table["feature"] = table["feature"].astype(int)
    if "best_concept" in full.columns:
        table["enrich_best"] = _at_best(full, "enrich_")
        table["median_dist_best"] = _at_best(full, "median_dist_")
    exported = {t["feature"] for t in index.get("tracks", []) if t.get("feature") is not None}
    table["tracks"] = table["feature"].isin(exported)
    return table


def _at_best(full: pd.DataFrame, prefix: str) -> np.ndarray:
    """Per row, the value of column ``prefix + best_concept`` (NaN when there is none)."""
    out = np.full(len(full), np.nan)
    for i, concept in enumerate(full["best_concept"]):
        column = f"{prefix}{concept}"
        if isinstance(concept, str) and column in full.columns:
            out[i] = pd.to_numeric(full[column].iloc[i], errors="coerce")
    return out


def _sites(run: RunDir, index: dict, table: pd.DataFrame, names: dict, n_sites: int) -> dict:
    """``{feature: [[contig, start, end, strand, activation, context], ...]}``, strongest
    first: the catalog's top sites, or the export's for features the catalog lacks."""
    out: dict[str, list] = {}
    path = run.place("catalog") / "top_sites.tsv"
    if path.is_file():
        wanted = ["feature", "contig", "strand", "position", "activation", "context"]
        sites = pd.read_csv(path, sep="\t", usecols=lambda c: c in wanted)
        sites = sites.sort_values(["feature", "activation"], ascending=[True, False])
        focus = set(table.loc[table["tracks"], "feature"])
        if "class" in table.columns:
            focus |= set(table.loc[table["class"].isin(_FOCUS), "feature"])
        for feature, group in sites.groupby("feature", sort=False):
            n = n_sites if feature in focus else max(3, n_sites // 3)
            out[str(int(feature))] = [_site_row(row, names) for row in group.head(n).itertuples()]
    for entry in index.get("features", []):
        key = str(entry["feature"])
        if key not in out and entry.get("top_sites"):
            out[key] = [
                [s["contig"], int(s["start"]), int(s["end"]), s.get("strand") or ".",
                 _round(s.get("activation")), None]
                for s in entry["top_sites"][:n_sites]
            ]  # fmt: skip
    return out


def _site_row(row, names: dict) -> list:
    context = getattr(row, "context", None)
    return [
        names.get(row.contig, row.contig),
        int(row.position),
        int(row.position) + 1,
        row.strand,
        _round(row.activation),
        context if isinstance(context, str) else None,
    ]


def _rows(table: pd.DataFrame) -> list[list]:
    """Rows as lists, floats to 4 significant digits, NaN and inf as ``null``."""
    columns = [table[c].tolist() for c in table.columns]
    return [[_clean(v) for v in row] for row in zip(*columns, strict=True)]


def _clean(value):
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _round(value)
    return None if value is None else str(value)


def _round(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.4g}")


def _url(path: str) -> str:
    """The URL of ``RUN/tracks/<path>`` from ``RUN/viewer/index.html``."""
    return "../tracks/" + quote(path)


def _first_locus(genome: dict) -> str:
    contig = genome["contigs"][0]
    return f"{contig['name']}:1-{min(int(contig['length']), 20_000)}"
