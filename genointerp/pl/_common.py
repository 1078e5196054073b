"""Shared pieces of the plots: colours, new axes, reading inputs given as objects or paths,
and saving a figure atomically."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._atomic import atomic_path
from ..errors import GenointerpError
from ..names import CLASS_COLORS, CLASS_LABELS  # noqa: F401 - one palette for every output

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FEATURE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
"""Line colours of the features in a track plot, in order."""


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax``, or the Axes of a new pyplot figure of ``figsize`` inches."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def new_figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """``fig`` (cleared), or a new pyplot figure of ``figsize`` inches."""
    if fig is not None:
        fig.clear()
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path


def offscreen_figure(figsize: tuple[float, float]) -> Figure:
    """A figure outside pyplot, rendered by Agg when saved: for writers only.

    It never touches pyplot's backend or list of open figures, so writing files from a
    notebook leaves the notebook's own plotting as it was.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def read_table(table, what: str, **kwargs) -> pd.DataFrame:
    """``table`` as a DataFrame: itself, or read from a TSV path."""
    if isinstance(table, pd.DataFrame):
        return table
    path = Path(table)
    if not path.is_file():
        raise GenointerpError(
            f"{path}: no such {what} file. Fix: give the run's catalog folder files "
            "(written by 'genointerp rank')"
        )
    return pd.read_csv(path, sep="\t", **kwargs)


def feature_label(feature: int, table: pd.DataFrame | None = None) -> str:
    """``"f17 cds (known)"`` from a catalog table, or ``"f17"`` without one."""
    label = f"f{int(feature)}"
    if table is None or "feature" not in table:
        return label
    rows = table[table["feature"] == feature]
    if not len(rows):
        return label
    row = rows.iloc[0]
    concept = row.get("best_concept")
    kind = CLASS_LABELS.get(str(row.get("class")))
    if isinstance(concept, str) and kind == "known":
        return f"{label} {concept} (known)"
    return f"{label} ({kind})" if kind else label


def finite(values) -> np.ndarray:
    """Finite values of ``values`` as float64."""
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]
