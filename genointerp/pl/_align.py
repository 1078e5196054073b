"""Alignment plots: concepts x features heatmap, scores against the threshold, SAE against
the neuron and probe baselines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import GenointerpError
from ._common import new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CURVES = {
    "precision": ("precision", "#1f77b4", "-"),
    "recall": ("recall", "#ff7f0e", "-"),
    "element_recall": ("element recall", "#ff7f0e", "--"),
    "f1": ("F1", "#2ca02c", "-"),
    "element_f1": ("element-F1", "#2ca02c", "--"),
}
"""Scores drawn by :func:`threshold_curve`: name -> (label, colour, line style)."""

_SPLITS = {"test": "held-out", "val": "validation"}
_NAMES = {"auroc": "AUROC", **{k: v[0] for k, v in CURVES.items()}}


def metric_label(metric: str) -> str:
    """``"held-out element-F1"`` for ``test_element_f1``, ``"validation F1"`` for ``val_f1``."""
    split, _, name = metric.partition("_")
    if split not in _SPLITS:
        split, name = "test", metric
    return f"{_SPLITS[split]} {_NAMES.get(name, name.replace('_', ' '))}"


SERIES_COLORS = {
    "SAE feature": "#1b7837",
    "SAE feature set": "#7fbf7b",
    "neuron": "#8073ac",
    "probe": "#e08214",
}


def read_alignment(alignment):
    """``alignment`` as a :class:`~genointerp.align.Alignment` (read when a folder path)."""
    if isinstance(alignment, str | Path):
        from ..align import Alignment

        path = Path(alignment)
        if not (path / "alignment.h5").is_file():
            raise GenointerpError(
                f"{path}: no alignment.h5 in this folder. Fix: give the folder 'genointerp "
                "align -o' wrote (RUN/alignment)"
            )
        return Alignment.read(path)
    return alignment


def _score_matrix(source, metric: str) -> tuple[pd.DataFrame, list[str], list[int]]:
    """(concepts x features scores, default concepts, each concept's best feature)."""
    if hasattr(source, "obs") and hasattr(source, "var_names"):  # the catalog's AnnData
        frame = pd.DataFrame(
            np.asarray(source.X, dtype=np.float64),
            index=source.obs["feature"].astype(int).to_numpy(),
            columns=list(source.var_names),
        ).T
        filled = frame.fillna(-1.0)
        concepts = [c for c in frame.index if (filled.loc[c] > 0).any()]
        return frame, concepts, [int(filled.loc[c].idxmax()) for c in concepts]
    al = read_alignment(source)
    if metric not in al.pairs:
        raise GenointerpError(
            f"metric {metric!r} is not a column of the alignment's pairs. Fix: use one of "
            + ", ".join(c for c in al.pairs.columns if c.startswith(("val_", "test_")))
        )
    frame = al.pairs.pivot(index="concept", columns="feature", values=metric)
    order = list(dict.fromkeys(al.pairs["concept"]))
    table = al.concepts.set_index("concept").reindex(order)
    keep = table["elements_test"] > 0 if "elements_test" in table else table.index.notna()
    concepts = [c for c in order if keep[c]]
    return frame.reindex(order), concepts, [int(table.loc[c, "single_feature"]) for c in concepts]


def alignment_heatmap(
    alignment,
    *,
    concepts: Sequence[str] | None = None,
    features: Sequence[int] | None = None,
    metric: str = "test_element_f1",
    annotate: bool | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of concepts (rows) x features (columns): each pair's held-out score.

    Parameters
    ----------
    alignment
        :class:`~genointerp.align.Alignment`, its folder, or the catalog's AnnData
        (``X`` = held-out element-F1; there each concept's best feature is the one
        scoring highest on the held-out split, not the one chosen on validation).
    concepts
        Rows; default every concept with elements in the test split.
    features
        Columns; default each row's best single feature (chosen on validation), once.
    metric
        A score column of ``alignment.pairs``, e.g. ``test_element_f1``, ``test_f1``,
        ``test_auroc``, ``val_element_f1``.
    annotate
        Write each cell's value; default when there are at most 600 cells.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    The Axes; ``ax.images[0].get_array()`` holds the scores (rows ``concepts``, columns
    ``features``, NaN where a pair was not scored).

    Examples
    --------
    >>> ax = gi.pl.alignment_heatmap("run/alignment")                  # doctest: +SKIP
    """
    frame, default_concepts, best = _score_matrix(alignment, metric)
    concepts = list(default_concepts if concepts is None else concepts)
    if features is None:
        pairs = dict(zip(default_concepts, best, strict=True))
        features = list(dict.fromkeys(pairs[c] for c in concepts if c in pairs))
    features = [int(f) for f in features]
    matrix = frame.reindex(index=concepts, columns=features).to_numpy(dtype=np.float64)
    ax = new_axes(ax, (max(4.0, 0.42 * len(features) + 2.8), max(2.5, 0.3 * len(concepts) + 1.4)))
    image = ax.imshow(
        np.ma.masked_invalid(matrix),
        vmin=0,
        vmax=1,
        cmap="viridis",
        aspect="auto",
        interpolation="nearest",
    )
    ax.figure.colorbar(image, ax=ax, label=metric_label(metric), shrink=0.8)
    ax.set_xticks(range(len(features)), [f"f{f}" for f in features], rotation=90)
    ax.set_yticks(range(len(concepts)), concepts)
    ax.set_xlabel("SAE feature (outlined: the concept's best, chosen on validation)")
    _outline_best(ax, concepts, features, dict(zip(default_concepts, best, strict=True)))
    if annotate or (annotate is None and matrix.size <= 600):
        _annotate(ax, matrix)
    return ax


def _outline_best(ax, concepts, features, best: dict) -> None:
    from matplotlib.patches import Rectangle

    for i, concept in enumerate(concepts):
        if best.get(concept) in features:
            j = features.index(best[concept])
            ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    fill=False,
                    edgecolor="#ff2d95",
                    linewidth=1.6,
                    gid=f"{concept}:f{best[concept]}",
                )
            )


def _annotate(ax, matrix: np.ndarray) -> None:
    """Each cell's value (2 decimals, values below 0.05 left blank)."""
    for (i, j), value in np.ndenumerate(matrix):
        if np.isfinite(value) and value >= 0.05:
            text = f"{value:.2f}".removeprefix("0") if value < 0.995 else "1"
            color = "black" if value > 0.6 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=6, color=color)


def threshold_curve(
    alignment,
    feature: int,
    concept: str,
    *,
    split: str = "test",
    fractions: Sequence[float] | None = None,
    scores: Sequence[str] = tuple(CURVES),
    ax: Axes | None = None,
) -> Axes:
    """Precision, recall, F1 (per nucleotide) and element recall / element-F1 of one
    feature against one concept, at every threshold.

    Parameters
    ----------
    alignment
        :class:`~genointerp.align.Alignment` or its folder.
    feature, concept
        The pair.
    split
        Split of the counts to score (``"validation"`` or ``"test"``).
    fractions
        Thresholds as fractions of the feature's scale (its max); default every level the
        counts resolve (``0, 1/resolution, ..., 1``).
    scores
        Which of :data:`CURVES` to draw.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    The Axes: one line per score, labelled with its name in :data:`CURVES`, x = the
    fractions, y = ``gi.align.scores(counts, split, fractions)[score][concept, feature]``;
    a dotted vertical line marks the threshold chosen on validation.

    Examples
    --------
    >>> ax = gi.pl.threshold_curve("run/alignment", 17, "cds")          # doctest: +SKIP
    """
    from ..align import scores as score_counts

    al = read_alignment(alignment)
    counts = al.counts
    if concept not in counts.concepts or not 0 <= int(feature) < counts.n_features:
        raise GenointerpError(
            f"no pair feature {feature} x concept {concept!r} in this alignment. Fix: choose "
            f"a feature below {counts.n_features} and a concept of {', '.join(counts.concepts)}"
        )
    if fractions is None:
        fractions = np.arange(counts.resolution + 1) / counts.resolution
    one = _one_feature(counts, int(feature))
    values = score_counts(one, split, list(fractions))
    c = counts.concepts.index(concept)
    ax = new_axes(ax, (6.2, 3.2))
    for name in scores:
        label, color, style = CURVES[name]
        ax.plot(fractions, values[name][c, 0], style, color=color, label=label, marker=".", ms=3)
    chosen = al.pairs[(al.pairs["feature"] == feature) & (al.pairs["concept"] == concept)]
    if len(chosen):
        ax.axvline(
            float(chosen["fraction"].iloc[0]),
            color="0.4",
            linestyle=":",
            linewidth=1,
            label="chosen on validation",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"threshold (fraction of max {counts.scale[int(feature)]:.3g})")
    ax.set_ylabel(f"score ({split} split)")
    ax.set_title(f"f{feature} vs {concept}", fontsize="medium")
    ax.legend(fontsize="x-small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def _one_feature(counts, feature: int):
    """The counts of one feature only (same concepts, splits and levels)."""
    f = slice(feature, feature + 1)
    return replace(
        counts,
        tp=counts.tp[:, :, f],
        active=counts.active[:, f],
        element_best=counts.element_best[:, :, f],
        scale=counts.scale[f],
    )


def _concept_table(source) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.set_index("concept") if "concept" in source else source
    return read_alignment(source).concepts.set_index("concept")


def sae_vs_baselines(
    alignment,
    neurons=None,
    probe=None,
    *,
    metric: str = "element_f1",
    concepts: Sequence[str] | None = None,
    alpha: float = 0.05,
    ax: Axes | None = None,
) -> Axes:
    """Per concept, the held-out score of the best SAE feature, the best SAE feature set,
    the best single neuron and the linear probe, as grouped horizontal bars.

    Parameters
    ----------
    alignment
        The SAE's :class:`~genointerp.align.Alignment`, its folder, or its ``concepts``
        table.
    neurons, probe
        The same for the baselines (``RUN/baselines/neurons`` and ``RUN/baselines/probe``,
        written by ``genointerp demo --baselines``), or None.
    metric
        ``element_f1``, ``f1``, ``precision``, ``recall``, ``element_recall`` or ``auroc``
        (series without that score are left out).
    concepts
        Rows, top to bottom; default every concept with elements in the test split.
    alpha
        Bars whose q-value is below ``alpha`` get a ``*``.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    The Axes: one bar container per series (labelled as in the legend), bar widths =
    the concepts table's ``single_test_<metric>`` (``set_test_<metric>`` for the set).

    Examples
    --------
    >>> ax = gi.pl.sae_vs_baselines("run/alignment", "run/baselines/neurons")  # doctest: +SKIP
    """
    sae = _concept_table(alignment)
    if concepts is None:
        has = sae["elements_test"] > 0 if "elements_test" in sae else sae.index.notna()
        concepts = [c for c in sae.index if has[c]]
    series = {"SAE feature": (sae, "single"), "SAE feature set": (sae, "set")}
    for name, table in (("neuron", neurons), ("probe", probe)):
        if table is not None:
            series[name] = (_concept_table(table), "single")
    series = {k: v for k, v in series.items() if f"{v[1]}_test_{metric}" in v[0]}
    ax = new_axes(ax, (6.0, 0.32 * len(concepts) * max(1, len(series)) / 2 + 1.5))
    height = 0.8 / max(len(series), 1)
    y = np.arange(len(concepts))
    for k, (name, (table, kind)) in enumerate(series.items()):
        rows = table.reindex(concepts)
        width = rows[f"{kind}_test_{metric}"].to_numpy(dtype=float)
        pos = y - 0.4 + height * (k + 0.5)
        ax.barh(pos, np.nan_to_num(width), height=height, label=name, color=SERIES_COLORS[name])
        q = rows.get(f"{kind}_q_value", pd.Series(np.nan, index=rows.index)).to_numpy(float)
        for yy, w, qq in zip(pos, width, q, strict=True):
            if qq < alpha:
                ax.text(np.nan_to_num(w) + 0.01, yy, "*", va="center", fontsize=7)
    ax.set_yticks(y, concepts)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(f"{metric_label(metric)}  (* q < {alpha:g})")
    ax.legend(fontsize="x-small", frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return ax
