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
BACKGROUND = ("-", "out")  # labels drawn first, under the others


def geometry(
    found,
    *,
    title: str = "",
    concept: str | None = None,
    ax: Axes | None = None,
    max_points: int = 5000,
) -> Axes:
    """Scatter of a :class:`~genointerp.rank.Geometry`: PC1 against PC2, one colour per label
    (codon positions 1-3, ``-`` outside coding sequence; or in/out of a concept), each
    label's centroid marked (X), and the called shape in the title.  Positions outside the
    concept (``-``, ``out``) are drawn first, under the others; ``concept`` names the concept
    of in/out labels in the legend.

    Examples
    --------
    >>> g = gi.rank.family_geometry(store, "blocks.5", fa, [231, 383], tracks)  # doctest: +SKIP
    >>> ax = gi.pl.geometry(g, title="family 0")                                # doctest: +SKIP
    """
    from matplotlib.lines import Line2D

    ax = new_axes(ax, (6.2, 4.2))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(found.labels))[:max_points]  # a random sample, drawn mixed
    points, labels = found.points[order], found.labels[order]
    names = sorted(np.unique(found.labels), key=lambda v: (v in BACKGROUND, v))
    colors = {label: LABEL_COLORS.get(label, f"C{i}") for i, label in enumerate(names)}
    behind = np.isin(labels, list(BACKGROUND))  # the rest is drawn over it
    for layer, alpha in ((behind, 0.3), (~behind, 0.45)):
        shown = [colors[label] for label in labels[layer]]
        ax.scatter(*points[layer].T, s=4, alpha=alpha, c=shown, linewidths=0, rasterized=True)
    handles = []
    for label in names:
        centroid = found.points[found.labels == label].mean(0)
        ax.scatter(*centroid, s=90, marker="X", color=colors[label], edgecolor="black", lw=0.8)
        handles.append(Line2D([], [], ls="", marker="o", ms=5, color=colors[label]))
    pc = found.explained * 100
    ax.set_xlabel(f"PC1 ({pc[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({pc[1]:.0f}%)")
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}{found.shape} (separation {found.separation:.2f})", fontsize=10)
    ax.legend(
        handles,
        [_legend_name(label, concept) for label in names],
        fontsize=8,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    numbers = f"{len(found.labels):,} sites\nline {found.line:.2f}"
    if len(set(names) - set(BACKGROUND)) >= 3:  # the cycle's numbers
        around = "yes" if found.surrounds else "no"
        numbers += f"\nangular {found.angular:.2f}\ncentroids around\nthe centre: {around}"
    ax.text(1.04, 0.0, numbers, transform=ax.transAxes, fontsize=8, color="dimgray", va="bottom")
    return ax


def _legend_name(label: str, concept: str | None) -> str:
    if label in {"1", "2", "3"}:
        return f"codon position {label}"
    if label == "-":
        return "outside coding sequence"
    if concept and label in {"in", "out"}:
        return f"in {concept}" if label == "in" else f"outside {concept}"
    return label


__all__ = ["geometry"]
