"""Scores from counts, and threshold / feature choice on validation, report on test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._counts import DEFAULT_FRACTIONS, AlignmentCounts

METRICS = ("element_f1", "f1", "precision", "recall", "element_recall")


def _ratio(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def _f1(p, r) -> np.ndarray:
    return _ratio(2 * p * r, p + r)


def scores(counts: AlignmentCounts, split: str, fractions=DEFAULT_FRACTIONS) -> dict:
    """Per (concept, feature, threshold), arrays (C, F, T):

    * ``precision``: active positions that are in the concept
    * ``recall``: concept positions that are active
    * ``f1``: of the two
    * ``element_recall``: elements with at least one active position
    * ``element_f1``: F1 of per-nucleotide precision and per-element recall
    """
    s = counts.split_index(split)
    at = counts.at_least(split, fractions)
    precision = _ratio(at["tp"], at["active"][None])
    recall = _ratio(at["tp"], counts.positives[s][:, None, None])
    element_recall = _ratio(at["hits"], counts.elements[s][:, None, None])
    return {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "element_recall": element_recall,
        "element_f1": _f1(precision, element_recall),
        "tp": at["tp"],
        "active": np.broadcast_to(at["active"][None], at["tp"].shape),
        "hits": at["hits"],
    }


def choose(
    validation: AlignmentCounts,
    test: AlignmentCounts | None = None,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    metric: str = "element_f1",
    validation_split: str = "validation",
    test_split: str = "test",
) -> pd.DataFrame:
    """Every feature x concept: its best threshold on validation, scored on test.

    ``test`` defaults to ``validation`` (two splits of one genome).  Returns a long
    table (C * F rows): concept, feature, threshold, val_* and test_* scores, test_auroc.
    """
    test = validation if test is None else test
    val = scores(validation, validation_split, fractions)
    tst = scores(test, test_split, fractions)
    best = np.argmax(val[metric], axis=-1)  # (C, F); ties -> the lowest threshold
    pick = lambda a: np.take_along_axis(a, best[..., None], -1)[..., 0]  # noqa: E731
    n_c, n_f = best.shape
    frame = {
        "concept": np.repeat(validation.concepts, n_f),
        "feature": np.tile(np.arange(n_f), n_c),
        "fraction": np.asarray(fractions)[best].ravel(),
        "threshold": (np.asarray(fractions)[best] * validation.scale[None, :]).ravel(),
    }
    for name in METRICS:
        frame[f"val_{name}"] = pick(val[name]).ravel()
    for name in METRICS:
        frame[f"test_{name}"] = pick(tst[name]).ravel()
    frame["test_auroc"] = test.auroc(test_split).ravel()
    frame["val_auroc"] = validation.auroc(validation_split).ravel()
    frame["test_tp"] = pick(tst["tp"]).ravel()
    frame["test_active"] = pick(tst["active"]).ravel()
    frame["test_hits"] = pick(tst["hits"]).ravel()
    return pd.DataFrame(frame)


def best_per_concept(table: pd.DataFrame, metric: str = "element_f1") -> pd.DataFrame:
    """The feature with the highest validation ``metric`` for each concept."""
    idx = table.groupby("concept", sort=False)[f"val_{metric}"].idxmax()
    return table.loc[idx].reset_index(drop=True)


def best_per_feature(table: pd.DataFrame, metric: str = "element_f1") -> pd.DataFrame:
    """The concept with the highest validation ``metric`` for each feature."""
    idx = table.groupby("feature", sort=True)[f"val_{metric}"].idxmax()
    return table.loc[idx].reset_index(drop=True)
