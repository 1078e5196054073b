"""Evidence plots of one feature: logo of its top sites, codon-phase profile, distances
from its top sites to the nearest annotated elements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import GenointerpError
from ._common import FEATURE_COLORS, feature_label, new_axes, read_table
from ._logo import logo

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DISTANCE_BINS = (0, 1, 11, 31, 101, 301, 1_001, 3_001, 10_001, np.inf)
"""Edges (nt) of the distance classes: inside an element (0), 1-10, 11-30, ..., > 10 kb."""
DISTANCE_LABELS = (
    "inside",
    "1-10",
    "11-30",
    "31-100",
    "101-300",
    "301-1k",
    "1k-3k",
    "3k-10k",
    ">10k",
    "none",
)
"""Labels of the classes; ``none``: no element of the concept on that contig and strand."""


def _feature_sites(sites, feature: int) -> pd.DataFrame:
    sites = read_table(sites, "top sites")
    rows = sites[sites["feature"] == int(feature)]
    if not len(rows):
        raise GenointerpError(
            f"feature {feature} has no top sites in the catalog. Fix: choose a feature that "
            "is active (class other than 'dead'), listed in top_sites.tsv"
        )
    return rows


def site_logo(
    sites,
    feature: int,
    *,
    split: int | None = 0,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Sequence logo of a feature's top activating sites (the catalog's evidence logo).

    Parameters
    ----------
    sites
        ``top_sites.tsv`` of a catalog (path or DataFrame): one row per site with its
        ``context`` read along the strand that fired.
    feature
        The SAE feature.
    split
        Sites of this split only (0: validation, as the catalog's own logos and motif
        matches use); None for every split.
    ax
        Axes to draw on; a new figure when None.
    title
        Axes title; default names the feature and the number of sites.

    Returns
    -------
    The Axes, x = offset from the site (0 = the activating nucleotide), y in bits.

    Examples
    --------
    >>> ax = gi.pl.site_logo("run/catalog/top_sites.tsv", 17)           # doctest: +SKIP
    """
    from ..rank import pwm_from_sites  # rank imports torch: not at import time

    rows = _feature_sites(sites, feature)
    if split is not None:
        rows = rows[rows["split"] == split]
    contexts = rows["context"].astype(str).tolist()
    if not contexts:
        raise GenointerpError(
            f"feature {feature} has no top sites in split {split}. Fix: pass split=None"
        )
    pwm = pwm_from_sites(contexts)
    flank = (pwm.shape[0] - 1) // 2
    ax = new_axes(ax, (0.3 * len(pwm) + 1.2, 1.8))
    logo(pwm, ax, first=-flank)
    where = {None: "", 0: " (validation split)", 1: " (test split)"}.get(split, f" (split {split})")
    ax.set_title(title or f"f{feature}: {len(contexts)} top sites{where}", fontsize="medium")
    ax.set_xlabel("position from the site (nt, along the strand read)")
    return ax


def codon_phase(table, features: int | Sequence[int], *, ax: Axes | None = None) -> Axes:
    """Codon-phase profile: where in the codon a feature fires inside same-strand CDS.

    Parameters
    ----------
    table
        Catalog table (``catalog.tsv``, path or DataFrame) or ``fa.stats.table()``: its
        ``phase0``-``phase2`` columns are the fractions of the feature's in-CDS activity
        at codon positions 1-3, ``coding_fraction`` the share of its activity in CDS.
    features
        One feature or several (grouped bars).
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    The Axes: one bar container per feature (x = codon position 1, 2, 3; heights =
    ``phase0..2``); a dotted line marks no preference (1/3).

    Examples
    --------
    >>> ax = gi.pl.codon_phase("run/catalog/catalog.tsv", [17, 301])   # doctest: +SKIP
    """
    table = read_table(table, "catalog")
    features = [int(features)] if np.isscalar(features) else [int(f) for f in features]
    rows = table.set_index("feature").reindex(features)
    if rows[["phase0", "phase1", "phase2"]].isna().all(axis=None):
        raise GenointerpError(
            f"features {features} have no codon-phase profile (no activity inside CDS, or "
            "features encoded without concept tracks). Fix: run 'genointerp features "
            "encode --tracks concepts.h5'"
        )
    ax = new_axes(ax, (1.2 + 0.9 * len(features) + 1.5, 2.6))
    width = 0.8 / len(features)
    for k, feature in enumerate(features):
        row = rows.loc[feature]
        heights = row[["phase0", "phase1", "phase2"]].to_numpy(dtype=float)
        coding = row.get("coding_fraction", np.nan)
        label = feature_label(feature, table)
        if np.isfinite(coding):
            label += f", {coding:.0%} of its activity in same-strand CDS"
        x = np.arange(3) - 0.4 + width * (k + 0.5)
        color = FEATURE_COLORS[k % len(FEATURE_COLORS)]
        ax.bar(x, np.nan_to_num(heights), width=width, label=label, color=color)
    ax.axhline(1 / 3, color="0.4", linestyle=":", linewidth=1, label="no preference (1/3)")
    ax.set_xticks(range(3), ["1", "2", "3"])
    ax.set_xlabel("codon position")
    ax.set_ylabel("share of in-CDS activity")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="x-small", frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def distance_counts(distances) -> np.ndarray:
    """Number of distances in each class of :data:`DISTANCE_LABELS`."""
    d = np.asarray(distances, dtype=np.float64)
    finite = d[np.isfinite(d)]
    counts, _ = np.histogram(finite, bins=np.asarray(DISTANCE_BINS[:-1] + (np.finfo(float).max,)))
    return np.append(counts, int(np.isinf(d).sum()))


def element_distance(
    sites,
    feature: int,
    concepts: str | Sequence[str] | None = None,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Distance from a feature's top sites to the nearest element of each concept.

    Parameters
    ----------
    sites
        ``top_sites.tsv`` of a catalog (path or DataFrame), with ``dist_<concept>``
        columns: nt to the nearest element on the same strand (0 inside one, inf when the
        contig and strand have none).
    feature
        The SAE feature.
    concepts
        One concept or several (grouped bars); default the 3 with the smallest median
        distance.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    The Axes: one bar container per concept (x = :data:`DISTANCE_LABELS`, heights =
    :func:`distance_counts` of the sites' ``dist_<concept>``).

    Examples
    --------
    >>> ax = gi.pl.element_distance("run/catalog/top_sites.tsv", 17, "promoter")  # doctest: +SKIP
    """
    rows = _feature_sites(sites, feature)
    available = [c[len("dist_") :] for c in rows.columns if c.startswith("dist_")]
    if concepts is None:
        medians = rows[[f"dist_{c}" for c in available]].median()
        concepts = [c[len("dist_") :] for c in medians.nsmallest(3).index]
    concepts = [concepts] if isinstance(concepts, str) else list(concepts)
    missing = [c for c in concepts if c not in available]
    if missing:
        raise GenointerpError(
            f"top sites have no distances to {missing}. Fix: choose from {', '.join(available)}"
        )
    ax = new_axes(ax, (6.0, 2.8))
    width = 0.8 / len(concepts)
    for k, concept in enumerate(concepts):
        x = np.arange(len(DISTANCE_LABELS)) - 0.4 + width * (k + 0.5)
        counts = distance_counts(rows[f"dist_{concept}"])
        ax.bar(x, counts, width=width, label=concept, color=FEATURE_COLORS[k % 7])
    ax.set_xticks(range(len(DISTANCE_LABELS)), DISTANCE_LABELS, rotation=30, ha="right")
    ax.set_xlabel("distance to the nearest element (nt, same strand)")
    ax.set_ylabel("top sites")
    ax.set_title(f"f{feature}: {len(rows)} top sites", fontsize="medium")
    ax.legend(
        fontsize="x-small", frameon=False, loc="best", title="nearest", title_fontsize="x-small"
    )
    ax.spines[["top", "right"]].set_visible(False)
    return ax
