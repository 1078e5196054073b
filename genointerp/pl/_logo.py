"""Sequence logos: letters stacked to each column's information content, and logo PNGs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._common import new_axes, offscreen_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)

ALPHABET = "ACGT"
LOGO_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}
"""Letter colours: A green, C blue, G orange, T red."""


def logo(
    pwm,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    first: int = 1,
) -> Axes:
    """Draw a sequence logo: letters stacked to each column's information content.

    Each letter's height is its probability times the column's bits (uniform
    background); the tallest letter sits on top.  A green, C blue, G orange, T red.

    Parameters
    ----------
    pwm
        ``(L, 4)`` probabilities, columns A, C, G, T (e.g. from
        :func:`genointerp.rank.pwm_from_sites`).
    ax
        Axes to draw on; a new figure when None.
    title
        Axes title.
    first
        Label of the first column on the x axis (e.g. ``-10`` for a window centred
        on a site with 10 nt each side).

    Returns
    -------
    The Axes: column ``i`` (0-based) spans ``x = first + i +- 0.45``, y in bits (0 to 2).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = logo([[1, 0, 0, 0], [0.5, 0.5, 0, 0]])
    >>> len(ax.patches)
    3
    """
    from ..rank import information_content  # rank imports torch: not at import time

    bits = information_content(pwm)  # checks the shape and values, with the fix
    pwm = np.asarray(pwm, dtype=np.float64)
    ax = new_axes(ax, (0.3 * len(pwm) + 1.2, 1.8))
    heights = pwm * bits[:, None]  # (L, 4) bits per letter
    for i, column in enumerate(heights):
        bottom = 0.0
        for letter in np.argsort(column, kind="stable"):
            if column[letter] > 1e-6:
                ax.add_patch(_letter_patch(ALPHABET[letter], first + i, bottom, column[letter]))
                bottom += column[letter]
    ax.set_xlim(first - 0.5, first + len(pwm) - 0.5)
    ax.set_ylim(0, 2)
    step = 1 if len(pwm) <= 25 else 5
    ax.set_xticks([x for x in range(first, first + len(pwm)) if (x - first) % step == 0])
    ax.set_ylabel("bits")
    ax.spines[["top", "right"]].set_visible(False)
    if title is not None:
        ax.set_title(title, fontsize="medium")
    return ax


def _letter_patch(letter: str, x: float, bottom: float, height: float, width: float = 0.9):
    """A letter glyph as a PathPatch filling ``x +- width/2`` by ``[bottom, bottom + height]``."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    glyph = TextPath(
        (0, 0), letter, size=1, prop=FontProperties(family="DejaVu Sans", weight="bold")
    )
    box = glyph.get_extents()
    placed = (
        Affine2D()
        .translate(-box.x0, -box.y0)
        .scale(width / box.width, height / box.height)
        .translate(x - width / 2, bottom)
    )
    patch = PathPatch(placed.transform_path(glyph), facecolor=LOGO_COLORS[letter], edgecolor="none")
    patch.set_gid(letter)
    return patch


def write_logos(pwms: dict[int, np.ndarray], folder: str | Path, *, dpi: int = 100) -> list[Path]:
    """Write one logo PNG per feature, ``folder/feature_<id>.png``, each atomically.

    Parameters
    ----------
    pwms
        ``{feature: (L, 4) probabilities}``, e.g. :attr:`genointerp.rank.Catalog.pwms`.
    folder
        Created when missing.
    dpi
        Resolution of the PNGs.

    Returns
    -------
    The paths written, in the order of ``pwms``.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_logos({7: [[1, 0, 0, 0], [0, 1, 0, 0]]}, tempfile.mkdtemp())
    >>> paths[0].name
    'feature_7.png'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for feature, pwm in pwms.items():
        fig = offscreen_figure((max(4.0, len(pwm) * 0.35), 1.8))
        logo(pwm, fig.add_subplot(), title=f"feature {feature}")
        paths.append(save_figure(fig, folder / f"feature_{feature}.png", dpi=dpi))
    log.debug("wrote %d logos to %s", len(paths), folder)
    return paths
