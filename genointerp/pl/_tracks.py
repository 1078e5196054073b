"""Track plot: feature activations along a region, with annotation lanes under them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import names
from .._regions import parse_region_text
from ..errors import GenointerpError
from ._common import FEATURE_COLORS, feature_label, new_figure, read_table

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DEFAULT_LANES = (
    "gene",
    "cds",
    "pseudogene",
    "exon",
    "trna",
    "rrna",
    "ncrna",
    "tmrna",
    "rep_repeat",
    "transposable_element",
    "mobile_element",
    "crispr_array",
    "prophage",
    "promoter",
)
"""Annotation lanes drawn by default, those the tracks have (genes, RNAs, repeats, promoters)."""


def parse_region(region, lengths: dict[str, int]) -> tuple[str, int, int]:
    """``(contig, start, end)``, 0-based half-open, from ``"contig:start-end"`` (1-based,
    inclusive, as genome browsers show it), ``"contig"`` (the whole contig) or a 0-based
    half-open tuple; checked against ``lengths``.

    Examples
    --------
    >>> parse_region("chr1:1,001-2,000", {"chr1": 5000})
    ('chr1', 1000, 2000)
    """
    if isinstance(region, str):
        contig, start, end = parse_region_text(region)
    else:
        contig, start, end = region
    if contig not in lengths:
        shown = ", ".join(list(lengths)[:5])
        raise GenointerpError(
            f"region {region!r}: no contig {contig!r}. Fix: use one of {shown} "
            "as 'contig:start-end' (1-based, inclusive)"
        )
    end = lengths[contig] if end is None else int(end)
    if not 0 <= int(start) < end <= lengths[contig]:
        raise GenointerpError(
            f"region {region!r} is not inside {contig} (0-{lengths[contig]:,}) or is empty. "
            "Fix: give 'contig:start-end' with start < end <= the contig's length"
        )
    return contig, int(start), end


def region_activations(fa, contig: str, strand: str, start: int, end: int, features):
    """``(end - start, len(features))`` float32 activations, read sparsely: the same values
    as ``fa.dense(contig, strand, start, end, features=features)`` without building the
    dense ``(n, d_sae)`` block."""
    features = np.asarray(features, dtype=np.int64)
    chunk = fa.chunk(contig, strand, start, end)
    out = np.zeros((end - start, len(features)), dtype=np.float32)
    order = np.argsort(features, kind="stable")
    cols = chunk.indices.astype(np.int64)
    where = np.searchsorted(features[order], cols)
    hit = (where < len(features)) & (features[order][np.minimum(where, len(features) - 1)] == cols)
    out[chunk.rows[hit], order[where[hit]]] = chunk.values[hit]
    return out


def tracks(
    activations,
    concept_tracks=None,
    region=None,
    *,
    features: Sequence[int],
    strand: str = "both",
    annotation: Sequence[str] | None = None,
    catalog=None,
    fig: Figure | None = None,
) -> Figure:
    """Activations of chosen features along a region, with annotation lanes under them.

    One row per feature: its activation along the region, one value per nucleotide,
    drawn as steps; with both strands, the ``+`` pass points up and the ``-`` pass is
    mirrored below the axis (lighter), as in a genome browser.  Under them, one lane per
    annotation concept: elements as boxes, stranded ones as arrows (``+`` in the upper
    half of the lane pointing right, ``-`` in the lower half pointing left), unstranded
    ones across the lane.

    Parameters
    ----------
    activations
        :class:`~genointerp.features.FeatureActivations` or the path of ``features.h5``.
    concept_tracks
        :class:`~genointerp.concepts.ConceptTracks` or the path of ``concepts.h5``
        (no lanes when None).
    region
        ``"contig:start-end"`` (1-based, inclusive, as browsers show it; commas allowed),
        ``"contig"``, or a 0-based half-open ``(contig, start, end)``; default the first
        20 kb of the first contig.
    features
        SAE feature ids, one row each.
    strand
        ``"+"``, ``"-"`` or ``"both"``: which model pass(es) to draw.
    annotation
        Concepts drawn as lanes, top to bottom; default those of :data:`DEFAULT_LANES`
        with elements in the region (genes, CDS, tRNA, rRNA, repeats, promoters...).
    catalog
        Catalog table (``catalog.tsv`` or its DataFrame) to name each feature's best
        concept and class beside its row.
    fig
        Figure to draw on (cleared first); a new one when None.

    Returns
    -------
    The Figure: ``fig.axes[:len(features)]`` are the activation rows (one line per
    strand, ``+`` first, with the gid ``"f<feature>:<strand>"``; its y data are the stored
    activations, the ``-`` line mirrored only when drawn; with both strands a last line,
    gid ``"zero"``, marks 0); the last Axes holds the lanes,
    whose patches have the gid ``"<concept>:<element>"``.

    Examples
    --------
    >>> fig = gi.pl.tracks("run/features.h5", "run/concepts.h5",     # doctest: +SKIP
    ...                    "NC_000913.3:223000-231000", features=[17, 301])
    >>> fig.savefig("tracks.png")                                     # doctest: +SKIP
    """
    fa, opened = _open_features(activations)
    try:
        contig, start, end = parse_region(region or (next(iter(fa.contigs)), 0, None), fa.contigs)
        end = min(end, start + 20_000) if region is None else end
        strands = _strands(strand, fa.strands)
        features = [int(f) for f in features]
        values = {s: region_activations(fa, contig, s, start, end, features) for s in strands}
    finally:
        if opened:
            fa.close()
    ct = _open_tracks(concept_tracks)
    lanes = _lanes(ct, annotation, contig, start, end)
    table = None if catalog is None else read_table(catalog, "catalog")
    heights = [1.0] * len(features) + ([0.34 * len(lanes) + 0.3] if lanes else [])
    fig = new_figure(fig, (10, 0.9 + sum(heights)))
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights, squeeze=False)[:, 0]
    x = np.arange(start, end)
    for i, (ax, feature) in enumerate(zip(axes, features, strict=False)):
        _activation_row(ax, x, {s: v[:, i] for s, v in values.items()}, feature, i)
        ax.set_ylabel(feature_label(feature, table), rotation=0, ha="right", va="center")
    if len(strands) > 1 and features:
        axes[0].legend(
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            fontsize="x-small",
            ncols=2,
            frameon=False,
            borderaxespad=0.1,
        )
    if lanes:
        draw_lanes(axes[-1], ct, lanes, contig, start, end)
    axes[-1].set_xlim(start, end)
    axes[-1].set_xlabel(f"{contig} position (nt, 0-based)")
    axes[-1].xaxis.set_major_formatter(_formatter("{:,.0f}"))
    return fig


def _open_features(activations):
    """The FeatureActivations, and whether this call opened it (and must close it)."""
    if isinstance(activations, str | Path):
        from ..features import FeatureActivations

        return FeatureActivations(activations), True
    return activations, False


def _open_tracks(concept_tracks):
    if isinstance(concept_tracks, str | Path):
        from ..concepts import ConceptTracks

        return ConceptTracks.read(concept_tracks)
    return concept_tracks


def _strands(strand: str, available: Sequence[str]) -> list[str]:
    wanted = list(available) if strand == "both" else [strand]
    missing = [s for s in wanted if s not in available]
    if strand not in ("+", "-", "both") or missing:
        raise GenointerpError(
            f"strand {strand!r}: the feature file has strands {list(available)}. "
            "Fix: pass strand='+', '-' or 'both'"
        )
    return wanted


def default_lanes(ct, contig: str, start: int, end: int) -> list[str]:
    """The concepts of :data:`DEFAULT_LANES` with elements in ``contig[start:end]``."""
    table = ct.intervals
    here = table[
        (table[names.CHROM] == contig) & (table[names.END] > start) & (table[names.START] < end)
    ]
    present = set(here[names.CONCEPT].unique())
    return [c for c in DEFAULT_LANES if c in present]


def _lanes(ct, annotation, contig: str, start: int, end: int) -> list[str]:
    if ct is None:
        return []
    if annotation is None:
        return default_lanes(ct, contig, start, end)
    unknown = [c for c in annotation if c not in ct.concepts]
    if unknown:
        raise GenointerpError(
            f"annotation {unknown}: not concepts of these tracks. "
            f"Fix: choose from {', '.join(ct.concepts)}"
        )
    return list(annotation)


def _activation_row(ax: Axes, x: np.ndarray, by_strand: dict, feature: int, i: int) -> None:
    """One line per strand; with two, the '-' line is mirrored below zero by its transform
    (its data stay the stored, positive activations)."""
    from matplotlib.transforms import Affine2D

    color = FEATURE_COLORS[i % len(FEATURE_COLORS)]
    mirror = len(by_strand) > 1
    for strand, y in by_strand.items():
        down = mirror and strand == "-"
        ax.plot(
            x,
            y,
            drawstyle="steps-mid",
            color=color,
            alpha=0.5 if down else 1.0,
            linewidth=0.8,
            label=f"{strand} strand" + (" (mirrored)" if down else ""),
            gid=f"f{feature}:{strand}",
            transform=Affine2D().scale(1, -1) + ax.transData if down else ax.transData,
        )
    top = max((float(y.max()) for y in by_strand.values() if len(y)), default=0.0)
    top = top * 1.08 if top > 0 else 1.0
    ax.set_ylim(-top if mirror else 0, top)
    if mirror:
        ax.axhline(0, color="0.6", linewidth=0.5, gid="zero")
        ax.yaxis.set_major_formatter(_formatter("{:.2g}", absolute=True))
    if not any(y.any() for y in by_strand.values()):
        ax.text(0.5, 0.75, "not active here", transform=ax.transAxes, ha="center", va="center")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="y", labelsize="x-small")


def draw_lanes(ax: Axes, ct, lanes: Sequence[str], contig: str, start: int, end: int) -> Axes:
    """One lane per concept of ``lanes`` (top to bottom) on ``ax`` over ``contig[start:end]``."""
    head = 0.008 * (end - start)
    for i, concept in enumerate(lanes):
        y = len(lanes) - 1 - i
        spec = ct.spec(concept)
        color = np.array([int(c) for c in spec.color.split(",")]) / 255
        parts = ct.parts(concept)
        parts = parts[
            (parts[names.CHROM] == contig) & (parts[names.END] > start) & (parts[names.START] < end)
        ]
        if spec.stranded:
            ax.axhline(y + 0.5, color="0.85", linewidth=0.5, zorder=0)
        for element, group in parts.groupby(names.ELEMENT, sort=False):
            _draw_element(ax, group, f"{concept}:{element}", y, color, head, start, end)
    ax.set_ylim(-0.1, len(lanes) + 0.1)
    ax.set_yticks([len(lanes) - 1 - i + 0.5 for i in range(len(lanes))])
    ax.set_yticklabels([_lane_label(ct, c) for c in lanes], fontsize="small")
    ax.tick_params(axis="y", length=0)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return ax


def _lane_label(ct, concept: str) -> str:
    label = ct.spec(concept).label
    return label if len(label) <= 16 else concept


def _draw_element(ax, parts: pd.DataFrame, gid, y, color, head, start, end) -> None:
    """Parts as boxes joined by a thin line; the 3' part of a stranded element an arrow."""
    from matplotlib.patches import Polygon

    strand = parts[names.STRAND].iloc[0]
    low, high = {"+": (0.55, 0.92), "-": (0.08, 0.45)}.get(strand, (0.2, 0.8))
    bounds = sorted(
        (max(int(s), start), min(int(e), end), int(s) >= start, int(e) <= end)
        for s, e in zip(parts[names.START], parts[names.END], strict=True)
    )
    if len(bounds) > 1:
        ax.plot([bounds[0][0], bounds[-1][1]], [(low + high) / 2 + y] * 2, color=color, lw=0.7)
    for k, (s, e, has_start, has_end) in enumerate(bounds):
        tip = None
        if strand == "+" and k == len(bounds) - 1 and has_end:
            tip = "right"
        elif strand == "-" and k == 0 and has_start:
            tip = "left"
        xy = _arrow(s, e, y + low, y + high, tip, min(head, 0.5 * (e - s)))
        ax.add_patch(Polygon(xy, closed=True, facecolor=color, edgecolor="none", gid=gid))


def _arrow(s: float, e: float, y0: float, y1: float, tip: str | None, head: float) -> np.ndarray:
    """Corners of a box from ``s`` to ``e``, pointed at one end when ``tip`` says so."""
    mid = (y0 + y1) / 2
    if tip == "right":
        return np.array([[s, y0], [e - head, y0], [e, mid], [e - head, y1], [s, y1]])
    if tip == "left":
        return np.array([[s, mid], [s + head, y0], [e, y0], [e, y1], [s + head, y1]])
    return np.array([[s, y0], [e, y0], [e, y1], [s, y1]])


def _formatter(template: str, absolute: bool = False):
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: template.format(abs(value) if absolute else value))
