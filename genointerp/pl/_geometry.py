"""The geometry of a feature family's concept: its sites in the layer's first two principal
components, coloured by label (:func:`genointerp.rank.family_geometry`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LABEL_COLORS = {
    "1": "#1f77b4",
    "2": "#d62728",
    "3": "#2ca02c",
    "-": "#bbbbbb",
    "in": "#d62728",
    "out": "#bbbbbb",
}


def geometry(found, *, title: str = "", ax: Axes | None = None, max_points: int = 5000) -> Axes:
    """Scatter of a :class:`~genointerp.rank.Geometry`: PC1 against PC2, one colour per label
    (codon positions 1-3, ``-`` outside coding sequence; or in/out of a concept), each
    label's centroid marked, and the called shape in the title.

    Examples
    --------
    >>> g = gi.rank.family_geometry(store, "blocks.5", fa, [231, 383], tracks)  # doctest: +SKIP
    >>> ax = gi.pl.geometry(g, title="family 0")                                # doctest: +SKIP
    """
    ax = new_axes(ax, (4.8, 4.2))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(found.labels))[:max_points]
    points, labels = found.points[order], found.labels[order]
    for label in sorted(np.unique(labels), key=lambda v: (v == "-" or v == "out", v)):
        inside = labels == label
        color = LABEL_COLORS.get(label)
        name = f"codon position {label}" if label in {"1", "2", "3"} else label
        ax.scatter(*points[inside].T, s=4, alpha=0.35, color=color, label=name, linewidths=0)
        centroid = found.points[found.labels == label].mean(0)
        ax.scatter(*centroid, s=90, marker="X", color=color, edgecolor="black", linewidths=0.8)
    pc = found.explained * 100
    ax.set_xlabel(f"PC1 ({pc[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({pc[1]:.0f}%)")
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}{found.shape} (separation {found.separation:.2f})", fontsize=10)
    ax.legend(markerscale=3, fontsize=8, frameon=False, loc="best")
    return ax


__all__ = ["geometry"]
