"""Feature map: neighbours, UMAP and Leiden clusters of the SAE's decoder directions, and
a scatter of the map coloured by class, best concept, cluster or any score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import GenointerpError
from ._common import CLASS_COLORS, CLASS_LABELS, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

OTHER_COLOR = "#dcdcdc"


def embed_features(
    adata,
    *,
    use_rep: str = "decoder",
    key_added: str = "feature_map",
    n_neighbors: int = 15,
    metric: str = "cosine",
    resolution: float = 1.0,
    min_dist: float = 0.5,
    random_state: int = 0,
    copy: bool = False,
):
    """Neighbours, UMAP and Leiden clusters of the features' decoder directions, the
    scanpy way.

    Runs ``sc.pp.neighbors`` (on ``obsm[use_rep]``, ``metric`` distance), ``sc.tl.umap``
    and ``sc.tl.leiden`` (igraph's implementation) on the catalog's AnnData.

    Parameters
    ----------
    adata
        The catalog's AnnData (``catalog.h5ad``): one row per feature, decoder
        directions in ``obsm["decoder"]``.
    use_rep
        ``obsm`` key of the vectors to embed.
    key_added
        Neighbours go to ``uns[key_added]`` and ``obsp[f"{key_added}_distances"]`` /
        ``obsp[f"{key_added}_connectivities"]``; ``uns[key_added]["params"]`` records
        every setting of this call.
    n_neighbors, metric
        Neighbours per feature, and their distance (cosine: directions, not lengths).
    resolution
        Leiden resolution (higher: more clusters).
    min_dist
        UMAP's minimum distance between embedded points.
    random_state
        Seed of the neighbour search, UMAP and Leiden.
    copy
        Work on and return a copy instead of ``adata``.

    Returns
    -------
    None (or the copy), having written ``obsm["X_umap"]``, ``obs["leiden"]`` (categorical),
    ``uns["umap"]``, ``uns["leiden"]`` and ``uns[key_added]``.

    Examples
    --------
    >>> import anndata as ad
    >>> adata = ad.read_h5ad("run/catalog/catalog.h5ad")                  # doctest: +SKIP
    >>> gi.pl.embed_features(adata)                                       # doctest: +SKIP
    >>> gi.pl.feature_map(adata, color="class")                           # doctest: +SKIP
    """
    import scanpy as sc

    adata = adata.copy() if copy else adata
    if use_rep not in adata.obsm:
        raise GenointerpError(
            f"the AnnData has no obsm[{use_rep!r}] (it has {list(adata.obsm)}). Fix: rank with "
            "the SAE's decoder (genointerp rank --sae SAE_DIR), or pass use_rep="
        )
    n_neighbors = max(2, min(n_neighbors, adata.n_obs - 1))
    sc.pp.neighbors(
        adata,
        n_neighbors=n_neighbors,
        use_rep=use_rep,
        metric=metric,
        key_added=key_added,
        random_state=random_state,
    )
    sc.tl.umap(adata, min_dist=min_dist, neighbors_key=key_added, random_state=random_state)
    sc.tl.leiden(
        adata,
        resolution=resolution,
        flavor="igraph",
        n_iterations=2,
        directed=False,
        neighbors_key=key_added,
        random_state=random_state,
    )
    adata.uns[key_added]["params"].update(
        use_rep=use_rep,
        n_neighbors=n_neighbors,
        metric=metric,
        resolution=resolution,
        min_dist=min_dist,
        random_state=random_state,
        basis="X_umap",
        clusters="leiden",
    )
    return adata if copy else None


def feature_map(
    adata,
    color: str = "class",
    *,
    basis: str = "X_umap",
    highlight: Sequence[str] | None = None,
    size: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Scatter of the feature map (one point per SAE feature), coloured by an ``obs`` column.

    Parameters
    ----------
    adata
        The catalog's AnnData after :func:`embed_features`.
    color
        An ``obs`` column: categorical (``class``, ``best_concept``, ``leiden``, ``shape``)
        or numeric (``test_element_f1``, ``density``, ``novelty``...).
    basis
        ``obsm`` key of the 2-D coordinates.
    highlight
        Classes (``obs["class"]``) whose features get a colour; the others are drawn
        light grey beneath as ``other``.  Default: every class, except for
        ``color="best_concept"`` where only known features are coloured (every feature
        has a best concept, but only known ones match it).
    size
        Point size; default from the number of features.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    The Axes: for a categorical ``color``, one scatter per category drawn (labelled
    with it; ``other`` first), whose offsets are those features' rows of ``obsm[basis]``;
    for a numeric one, a single scatter and a colour bar.

    Examples
    --------
    >>> gi.pl.embed_features(adata)                                       # doctest: +SKIP
    >>> ax = gi.pl.feature_map(adata, color="best_concept")               # doctest: +SKIP
    """
    if basis not in adata.obsm:
        raise GenointerpError(
            f"the AnnData has no obsm[{basis!r}]. Fix: run gi.pl.embed_features(adata) first"
        )
    if color not in adata.obs:
        raise GenointerpError(
            f"no obs column {color!r}. Fix: use one of {', '.join(map(str, adata.obs.columns))}"
        )
    xy = np.asarray(adata.obsm[basis])[:, :2]
    values = adata.obs[color]
    shown = _highlighted(adata, color, highlight)
    ax = new_axes(ax, (6.4, 4.8))
    size = size or float(np.clip(8000 / max(adata.n_obs, 1), 4, 50))
    if not shown.all():
        ax.scatter(
            *xy[~shown].T,
            s=size,
            color=OTHER_COLOR,
            label=f"other ({(~shown).sum()})",
            linewidths=0,
            gid="other",
        )
    if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
        points = ax.scatter(
            *xy[shown].T,
            s=size,
            c=values.to_numpy(dtype=float)[shown],
            cmap="viridis",
            linewidths=0,
        )
        ax.figure.colorbar(points, ax=ax, label=color.replace("_", " "), shrink=0.8)
    else:
        _categories(ax, xy, values.astype(str).to_numpy(), shown, color, size)
    ax.set_xlabel(f"{basis.removeprefix('X_').upper()} 1")
    ax.set_ylabel(f"{basis.removeprefix('X_').upper()} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{adata.n_obs:,} SAE features by {color.replace('_', ' ')}", fontsize="medium")
    return ax


def _highlighted(adata, color: str, highlight) -> np.ndarray:
    """Which features get a colour (the rest are drawn grey as ``other``)."""
    if highlight is None and color == "best_concept" and "class" in adata.obs:
        highlight = ["known"]
    if highlight is None:
        return np.ones(adata.n_obs, dtype=bool)
    return adata.obs["class"].astype(str).isin(list(highlight)).to_numpy()


def _categories(ax, xy, labels, shown, color: str, size: float) -> None:
    """One scatter per category: classes in a fixed order (rarest, most telling last)."""
    present = list(dict.fromkeys(labels[shown]))
    if color == "class":
        order = [c for c in reversed(CLASS_COLORS) if c in present]
        colors = {c: CLASS_COLORS[c] for c in order}
    else:
        counts = pd.Series(labels[shown]).value_counts()
        order = list(counts.index)  # biggest first, so small groups stay visible on top
        palette = _palette(len(order))
        colors = dict(zip(order, palette, strict=True))
    for category in order:
        where = shown & (labels == category)
        name = CLASS_LABELS.get(category, category) if color == "class" else category
        ax.scatter(
            *xy[where].T,
            s=size,
            color=colors[category],
            label=f"{name} ({where.sum()})",
            linewidths=0,
            gid=category,
        )
    ax.legend(
        fontsize="x-small",
        frameon=False,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        markerscale=max(1.0, 30 / size) ** 0.5,
        ncols=1 if len(order) <= 16 else 2,
    )


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]
