"""Feature tracks: sites above threshold as BED9 / bigBed, activations as bigWig / bedGraph.

One streaming pass reads the feature-activation file block by block (every contig and
strand, or only the requested regions).  Per block, the non-zeros of the chosen features
become

* value runs (consecutive positions with one float16 value), appended to one scratch file
  per feature and strand; the bigWig and bedGraph are written from it afterwards, so
  memory does not grow with the genome;
* sites: runs of positions whose activation reaches the feature's threshold, merged
  (across block edges too) per strand, appended to another scratch file; the BEDs (one per
  feature, one per class) are merged from those window by window (:mod:`._sites`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import names
from .._atomic import atomic_open
from ..names import rgb
from ._bigfiles import write_bigwig
from ._contigs import ContigNames
from ._index import Track
from ._select import Region
from ._sites import RUN, SiteSource, SiteWriter, append, blocks, merged_bed, top_sites

log = logging.getLogger(__name__)

BLOCK_ROWS = 1 << 18  # positions read per block
STRAND_NAMES = {"+": "plus", "-": "minus"}
CLASS_COLORS = {cls: rgb(color) for cls, color in names.CLASS_COLORS.items()}  # itemRgb
OTHER_COLOR = rgb(names.CLASS_COLORS["uncharacterised"])
FALLBACK_FRACTION = 0.5


@dataclass
class FeatureFiles:
    """What was written for one feature."""

    feature: int
    cls: str
    best_concept: str | None
    threshold: float
    color: str
    bed: Path
    bigbed: Path | None = None
    bigwig: dict[str, Path] = field(default_factory=dict)
    bedgraph: dict[str, Path] = field(default_factory=dict)
    n_sites: int = 0
    top_sites: list[dict] = field(default_factory=list)


@dataclass
class FeatureExport:
    """Result of :func:`feature_tracks`: per-feature files, per-class site files, tracks."""

    features: dict[int, FeatureFiles]
    sets: dict[str, tuple[Path, Path | None]]
    tracks: list[Track]


def feature_tracks(
    features,
    selection: pd.DataFrame,
    folder: str | Path,
    *,
    names: ContigNames | None = None,
    regions: list[Region] | None = None,
    bigwig: bool = True,
    bedgraph: bool = False,
    bigbed: bool = True,
    color_by: str = "class",
    concept_colors: dict[str, str] | None = None,
    block_rows: int = BLOCK_ROWS,
    progress: bool = False,
) -> FeatureExport:
    """Write site BEDs (and bigBeds) and activation bigWigs for the selected features.

    Parameters
    ----------
    features
        :class:`~genointerp.features.FeatureActivations` (or its path).
    selection
        Catalog rows (:func:`select_features`): ``feature``, ``class``, ``best_concept``,
        and the alignment's chosen ``fraction`` (or ``threshold``).
    folder
        Output folder: ``f<id>.bed``/``.bb``, ``f<id>.plus.bw``/``f<id>.minus.bw``
        (``.bedGraph`` on request) and one ``<class>.bed``/``.bb`` of all sites per class.
    names
        Browser contig names (default: the genome's).
    regions
        Only these genome regions (default: everything).
    color_by
        ``"class"`` (known green, candidate novel orange, others grey:
        ``gi.names.CLASS_COLORS``) or ``"concept"`` (the best concept's colour from
        ``concept_colors``).

    Notes
    -----
    A site is a run of positions where the activation reaches the feature's threshold:
    ``float32(fraction) * max`` with the validation-chosen fraction and the feature's max,
    exactly the alignment's cut (fraction 0: any non-zero activation); without a fraction,
    the ``threshold`` column, else half the max.  Its BED score is ``1000 * run max / feature
    max``.  bigWig values are the stored float16 activations; zero runs are left out.

    Examples
    --------
    >>> fa = gi.features.FeatureActivations("run/features.h5")            # doctest: +SKIP
    >>> rows = gi.export.select_features(gi.export.read_catalog("run/catalog"))  # doctest: +SKIP
    >>> gi.export.feature_tracks(fa, rows, "run/tracks/features")        # doctest: +SKIP
    """
    from ..features import FeatureActivations

    if not isinstance(features, FeatureActivations):
        with FeatureActivations(features) as fa:
            return feature_tracks(
                fa, selection, folder, names=names, regions=regions, bigwig=bigwig,
                bedgraph=bedgraph, bigbed=bigbed, color_by=color_by,
                concept_colors=concept_colors, block_rows=block_rows, progress=progress,
            )  # fmt: skip
    fa = features
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or ContigNames.choose(fa.contigs)
    ids = selection["feature"].astype(int).to_numpy()
    thresholds = feature_thresholds(selection, fa.stats.max)
    rows = selection.to_dict("records")
    colors = [
        _color(str(r.get("class", "other")), _best(r), color_by, concept_colors or {}) for r in rows
    ]
    # ".tmp-": what a killed export leaves is scratch to the pipeline (not an output) and
    # removed by its next run
    with tempfile.TemporaryDirectory(prefix=".tmp-scratch-", dir=folder) as scratch:
        scratch = Path(scratch)
        _scan(fa, ids, thresholds, scratch, regions, block_rows, progress)
        files = {}
        for slot, row in enumerate(rows):
            files[int(row["feature"])] = _write_feature(
                fa,
                slot,
                row,
                float(thresholds[slot]),
                colors[slot],
                scratch,
                folder,
                names,
                bigwig=bigwig,
                bedgraph=bedgraph,
                bigbed=bigbed,
            )
        sets = _write_sets(files, fa, scratch, folder, names, bigbed)
    return FeatureExport(files, sets, _tracks(files, sets))


def feature_thresholds(selection: pd.DataFrame, maxima: np.ndarray) -> np.ndarray:
    """float32 threshold of each selected feature (see :func:`feature_tracks`, Notes)."""
    ids = selection["feature"].astype(int).to_numpy()
    top = np.asarray(maxima, dtype=np.float32)[ids]
    fraction = _column(selection, "fraction")
    fixed = _column(selection, "threshold").astype(np.float32)
    out = np.float32(FALLBACK_FRACTION) * top
    out = np.where(np.isfinite(fixed), fixed, out)
    return np.where(np.isfinite(fraction), fraction.astype(np.float32) * top, out).astype(
        np.float32
    )


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    if name not in table:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)


def _blocks(fa, regions, block_rows) -> Iterator[tuple[int, str, int, int]]:
    """(contig index, strand, start, end) in contig, strand, position order."""
    spans = regions or [Region(c, 0, n) for c, n in fa.contigs.items()]
    order = {c: i for i, c in enumerate(fa.contigs)}
    for contig in fa.contigs:
        mine = [r for r in spans if r.contig == contig]
        for strand in fa.strands:
            for region in mine:
                for start in range(region.start, region.end, block_rows):
                    yield order[contig], strand, start, min(start + block_rows, region.end)


def _scan(fa, ids, thresholds, scratch: Path, regions, block_rows, progress) -> None:
    """Stream the blocks: each feature's value runs and sites go to its scratch files."""
    contigs = list(fa.contigs)
    lookup = np.full(fa.d_sae, -1, dtype=np.int64)
    lookup[ids] = np.arange(len(ids))
    writers = {
        (s, strand): SiteWriter(scratch / f"{s}{strand}.sites")
        for s in range(len(ids))
        for strand in fa.strands
    }
    blocks = list(_blocks(fa, regions, block_rows))
    for c, strand, start, end in tqdm(blocks, desc="feature tracks", disable=not progress):
        chunk = fa.chunk(contigs[c], strand, start, end)
        slot = lookup[chunk.indices]
        picked = np.flatnonzero(slot >= 0)  # in (row, feature) order
        if len(picked) == 0:
            continue
        rows = np.searchsorted(chunk.indptr, picked, side="right") - 1
        order = np.argsort(slot[picked], kind="stable")  # -> (feature, row) order
        slot, pos = slot[picked][order], rows[order] + start
        value = chunk.values[picked][order].astype(np.float32)
        for s, lo, hi in _groups(slot):
            starts, ends, values = _runs(pos[lo:hi], value[lo:hi], split_on_value=True)
            records = np.empty(len(starts), dtype=RUN)
            records["contig"], records["start"], records["end"] = c, starts, ends
            records["value"] = values
            append(scratch / f"{s}{strand}.runs", records)
            on = value[lo:hi] >= thresholds[s]
            writers[s, strand].add(c, *_runs(pos[lo:hi][on], value[lo:hi][on], False))
    for writer in writers.values():
        writer.close()


def _groups(slot: np.ndarray):
    """(value, lo, hi) of each run of equal values in a sorted array."""
    edges = np.flatnonzero(np.diff(slot)) + 1
    bounds = np.concatenate([[0], edges, [len(slot)]])
    return [(int(slot[lo]), lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _runs(pos: np.ndarray, value: np.ndarray, split_on_value: bool):
    """Runs of consecutive positions (and equal values when ``split_on_value``):
    (start, end, value or max)."""
    if len(pos) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    new = np.ones(len(pos), dtype=bool)
    new[1:] = pos[1:] != pos[:-1] + 1
    if split_on_value:
        new[1:] |= value[1:] != value[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(pos)) - 1
    peak = value[first] if split_on_value else np.maximum.reduceat(value, first)
    return pos[first].astype(np.int64), pos[last].astype(np.int64) + 1, peak


def _sources(fa, slot: int, files: FeatureFiles, scratch: Path) -> list[SiteSource]:
    name = f"f{files.feature}|{files.best_concept or '-'}"
    top = float(fa.stats.max[files.feature])
    return [
        SiteSource(scratch / f"{slot}{strand}.sites", name, strand, files.color, top)
        for strand in fa.strands
    ]


def _write_feature(fa, slot, row, threshold, color, scratch, folder, names, **opts):
    """One feature's site BED (+ bigBed) and activation bigWigs / bedGraphs."""
    feature = int(row["feature"])
    files = FeatureFiles(
        feature,
        str(row.get("class", "other")),
        _best(row),
        threshold,
        color,
        folder / f"f{feature}.bed",
    )
    sources = _sources(fa, slot, files, scratch)
    bigbed = folder / f"f{feature}.bb" if opts["bigbed"] else None
    files.n_sites = merged_bed(files.bed, sources, names.sizes, bigbed)
    files.bigbed = bigbed if bigbed is not None and files.n_sites else None
    files.top_sites = top_sites(sources, list(names.sizes))
    browser = np.array(list(names.sizes), dtype=object)
    for strand in fa.strands:
        runs = scratch / f"{slot}{strand}.runs"
        if not runs.is_file():
            continue
        stem = f"f{feature}.{STRAND_NAMES[strand]}"
        if opts["bigwig"]:
            files.bigwig[strand] = write_bigwig(
                folder / f"{stem}.bw", names.sizes, _read(runs, browser)
            )
        if opts["bedgraph"]:
            files.bedgraph[strand] = _write_bedgraph(folder / f"{stem}.bedGraph", runs, browser)
    return files


def _best(row: dict) -> str | None:
    best = row.get("best_concept")
    return None if best is None or (isinstance(best, float) and np.isnan(best)) else str(best)


def _color(cls: str, best: str | None, color_by: str, concept_colors: dict) -> str:
    if color_by == "concept":
        return concept_colors.get(best, OTHER_COLOR)
    if color_by != "class":
        raise ValueError(f"color_by={color_by!r}; use 'class' or 'concept'")
    return CLASS_COLORS.get(cls, OTHER_COLOR)


def _read(path: Path, browser: np.ndarray):
    """The value runs of a scratch file as (chrom, start, end, value) tuples, in blocks."""
    for part in blocks(path, RUN):
        yield from zip(
            browser[part["contig"]].tolist(),
            part["start"].tolist(),
            part["end"].tolist(),
            part["value"].astype(np.float64).tolist(),
            strict=True,
        )


def _write_bedgraph(path: Path, runs: Path, browser: np.ndarray) -> Path:
    with atomic_open(path) as out:
        for chrom, start, end, value in _read(runs, browser):
            out.write(f"{chrom}\t{start}\t{end}\t{value!r}\n")
    return path


def _write_sets(files: dict[int, FeatureFiles], fa, scratch, folder, names, bigbed):
    """Every selected feature's sites per class: one bigBed, or a BED when bigBeds are off.

    The per-feature BEDs already hold these sites as text; a second text copy would double
    the export (about 350 MB for E. coli's default selection).
    """
    by_class: dict[str, list[SiteSource]] = {}
    for slot, f in enumerate(files.values()):
        by_class.setdefault(f.cls, []).extend(_sources(fa, slot, f, scratch))
    out = {}
    for cls, sources in by_class.items():
        path, bb = (None, folder / f"{cls}.bb") if bigbed else (folder / f"{cls}.bed", None)
        n = merged_bed(path, sources, names.sizes, bb)
        out[cls] = (path, bb if n else None)
    return out


def _tracks(files: dict[int, FeatureFiles], sets) -> list[Track]:
    tracks = []
    for cls, (bed, bb) in sets.items():
        color = CLASS_COLORS.get(cls, OTHER_COLOR)
        label = f"{cls.replace('_', ' ')} features: sites"
        if bed is not None:
            tracks.append(
                Track(f"features_{cls}", label, "feature_set", "bed", bed, cls=cls, color=color)
            )
        if bb is not None:
            tracks.append(
                Track(
                    f"features_{cls}_bb", label, "feature_set", "bigbed", bb, cls=cls, color=color
                )
            )
    for f in files.values():
        label = f"f{f.feature} {f.best_concept or ''}".strip()
        common = dict(
            group="feature", feature=f.feature, cls=f.cls, concept=f.best_concept, color=f.color
        )
        tracks.append(
            Track(f"feature_{f.feature}", f"{label} sites", format="bed", path=f.bed, **common)
        )
        if f.bigbed is not None:
            tracks.append(
                Track(
                    f"feature_{f.feature}_bb",
                    f"{label} sites",
                    format="bigbed",
                    path=f.bigbed,
                    **common,
                )
            )
        for kind, paths, suffix in (("bigwig", f.bigwig, ""), ("bedgraph", f.bedgraph, "_bg")):
            for strand, path in paths.items():
                key = f"feature_{f.feature}_{STRAND_NAMES[strand]}{suffix}"
                tracks.append(
                    Track(key, f"{label} {strand}", format=kind, path=path, strand=strand, **common)
                )
    return tracks
