"""Attribution logos: which bases before a feature's sites drive its activation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import new_axes
from ._logo import ALPHABET, _letter_patch

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def attribution_logo(
    attribution,
    *,
    span: int = 40,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Mean attribution of each base over a feature's sites, as letters: above the line the
    bases that raise the feature, below it those that lower it.

    Parameters
    ----------
    attribution
        A :class:`genointerp.intervene.Attribution` (observed-base scores, ``(n, 4, window)``,
        the site last).
    span
        Positions shown, ending at the site (offset 0).
    ax
        Axes to draw on; a new figure when None.
    title
        Axes title; default names the feature, the method and the number of sites.

    Returns
    -------
    The Axes: x = offset from the site (0 = the activating nucleotide, negative upstream),
    y = mean attribution (the feature's pre-activation units).

    Examples
    --------
    >>> found = gi.intervene.attribute(model, sae, "blocks.5", 321, genome, sites)  # doctest: +SKIP
    >>> ax = gi.pl.attribution_logo(found)                                          # doctest: +SKIP
    """
    scores = np.asarray(attribution.scores, dtype=np.float64)
    span = min(span, scores.shape[2])
    mean = scores[:, :, -span:].mean(0).T  # (span, 4)
    ax = new_axes(ax, (0.16 * span + 1.2, 2.0))
    first = 1 - span
    for i, column in enumerate(mean):
        up, down = 0.0, 0.0
        for letter in np.argsort(np.abs(column), kind="stable"):
            height = float(column[letter])
            if height > 1e-9:
                ax.add_patch(_letter_patch(ALPHABET[letter], first + i, up, height))
                up += height
            elif height < -1e-9:
                down += height
                ax.add_patch(_letter_patch(ALPHABET[letter], first + i, down, -height))
    top = max(float(np.clip(mean, 0, None).sum(1).max()), 1e-6)
    bottom = min(float(np.clip(mean, None, 0).sum(1).min()), 0.0)
    ax.set_xlim(first - 0.5, 1.0)  # room after the site's letter
    ax.set_ylim(bottom - 0.05 * (top - bottom), top * 1.05)
    ax.axhline(0, color="0.6", linewidth=0.6)
    ax.set_xticks([x for x in range(first, 1) if x % 5 == 0])
    ax.set_xlabel("offset from the site (nt)")
    ax.set_ylabel("attribution")
    ax.spines[["top", "right"]].set_visible(False)
    if title is None:
        method = {"ism": "ISM", "deep_lift_shap": "DeepLIFT/SHAP"}.get(
            attribution.method, attribution.method
        )
        title = f"bases that drive feature {attribution.feature} ({method}, {len(scores)} sites)"
    ax.set_title(title, fontsize="medium")
    return ax


__all__ = ["attribution_logo"]
