"""The alignment stage: counts on both splits, choices on validation, feature sets, null."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import __version__
from .._atomic import atomic_path
from .._filekind import unreadable_hdf5, wrong_kind
from .._stats import benjamini_hochberg
from ..errors import StoreVersionError
from ..names import ENCODING_TYPE, ENCODING_VERSION
from ._counts import DEFAULT_FRACTIONS, RESOLUTION, AlignmentCounts, count, source_scale
from ._null import N_SHIFTS, shift_test
from ._positions import ConceptArrays, GenomeIndex, collect, indicator
from ._score import best_per_concept, best_per_feature, choose
from ._splits import BlockSplit, WholeSplit

ALIGNMENT_TYPE = "alignment"
ALIGNMENT_VERSION = "0.1.0"
_COUNT_ARRAYS = ("tp", "active", "element_best", "positives", "elements", "positions", "scale")


@dataclass
class Alignment:
    """What ``genointerp align`` computes and writes.

    Attributes
    ----------
    counts
        :class:`AlignmentCounts` on the validation and test splits.
    pairs
        Every feature x concept: threshold chosen on validation, validation and test scores.
    concepts
        Per concept: best single feature, best union of up to 3, their test scores and q-values.
    features
        Per feature: best concept, its test scores, p- and q-value (tested when the
        validation score reaches ``min_effect``).
    """

    counts: AlignmentCounts
    pairs: pd.DataFrame
    concepts: pd.DataFrame
    features: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def write(self, folder: str | Path) -> Path:
        """``alignment.h5`` (counts), ``pairs.tsv.gz``, ``concepts.tsv``, ``features.tsv``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "alignment.h5") as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs[ENCODING_TYPE] = ALIGNMENT_TYPE
            h5.attrs[ENCODING_VERSION] = ALIGNMENT_VERSION
            h5.attrs["genointerp_version"] = __version__
            h5.attrs["settings"] = json.dumps(self.settings)
            h5.attrs["concepts"] = json.dumps(self.counts.concepts)
            h5.attrs["splits"] = json.dumps(list(self.counts.splits))
            h5.attrs["resolution"] = self.counts.resolution
            for name in _COUNT_ARRAYS:
                h5.create_dataset(name, data=getattr(self.counts, name), compression="gzip")
        for name, table in (
            ("pairs.tsv.gz", self.pairs),
            ("concepts.tsv", self.concepts),
            ("features.tsv", self.features),
        ):
            with atomic_path(folder / name, suffix=".gz" if name.endswith(".gz") else "") as tmp:
                table.to_csv(tmp, sep="\t", index=False, float_format="%.8g")
        return folder

    @classmethod
    def read(cls, folder: str | Path) -> Alignment:
        folder = Path(folder)
        with _open_alignment(folder) as h5:
            if h5.attrs.get(ENCODING_TYPE) != ALIGNMENT_TYPE:
                raise StoreVersionError(
                    f"{folder / 'alignment.h5'}: not an alignment. Fix: run 'genointerp align'"
                )
            counts = AlignmentCounts(
                concepts=json.loads(h5.attrs["concepts"]),
                splits=tuple(json.loads(h5.attrs["splits"])),
                resolution=int(h5.attrs["resolution"]),
                **{name: h5[name][()] for name in _COUNT_ARRAYS},
            )
            settings = json.loads(h5.attrs["settings"])
        read = lambda n: pd.read_csv(folder / n, sep="\t")  # noqa: E731
        return cls(
            counts, read("pairs.tsv.gz"), read("concepts.tsv"), read("features.tsv"), settings
        )


def _open_alignment(folder: Path) -> h5py.File:
    """``folder/alignment.h5``; errors name the folder, what it looks like and the fix."""
    fix = "give the folder 'genointerp align -o' wrote"
    path = folder / "alignment.h5"
    if not path.is_file():
        what = "no alignment.h5 here"
        if folder.is_file():
            other = wrong_kind(folder)
            what = "is a file, not an alignment folder" + (f"; {other}" if other else "")
        raise StoreVersionError(f"{folder}: {what}. Fix: {fix}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise StoreVersionError(unreadable_hdf5(path, err, "an alignment", fix)) from err


def align(
    source,
    tracks,
    *,
    split=None,
    concepts: Sequence[str] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    metric: str = "element_f1",
    resolution: int = RESOLUTION,
    set_size: int = 3,
    set_metric: str = "f1",
    candidates: int = 8,
    min_effect: float = 0.5,
    max_tests: int | None = None,
    n_shifts: int = N_SHIFTS,
    feature_shifts: int | None = None,
    seed: int = 0,
    own_feature: bool = False,
    progress: bool = False,
) -> Alignment:
    """Align every feature of ``source`` with every concept of ``tracks``.

    Thresholds (fractions of each feature's max) are chosen on the validation split
    by ``metric`` and scored on the test split.  For each concept a greedy union of up
    to ``set_size`` features (from its ``candidates`` best by ``metric``) is chosen on
    validation by ``set_metric`` (default per-nucleotide F1: a union's point is to cover
    more of the concept's positions, which element-F1 does not reward).
    Best matches whose validation ``metric`` reaches ``min_effect`` get a circular-shift
    p-value on test (``feature_shifts`` shifts, default ``n_shifts``; the per-concept
    best single features and sets use ``n_shifts``) and Benjamini-Hochberg q-values.
    With S shifts the smallest p-value is 1/(S+1), so 200 shifts already let a
    thousand tests all reach q < 0.05.
    ``max_tests``: test at most this many per-feature best matches (the best on
    validation); the others keep p = NaN and cannot be called known.
    ``own_feature``: feature ``c`` may only match concept ``c`` (probe outputs).
    """
    split = split or BlockSplit()
    val_name, test_name = split.names[0], split.names[-1]
    counts = count(
        source, tracks, split=split, concepts=concepts, resolution=resolution, progress=progress
    )
    pairs = choose(
        counts, fractions=fractions, metric=metric, validation_split=val_name, test_split=test_name
    )
    if own_feature:
        code = {c: i for i, c in enumerate(counts.concepts)}
        pairs = pairs[pairs["feature"] == pairs["concept"].map(code)].reset_index(drop=True)
    per_feature = best_per_feature(pairs, metric)
    per_concept = best_per_concept(pairs, metric)
    index = GenomeIndex(dict(source.contigs), list(source.strands))
    arrays = ConceptArrays(tracks, index, split)
    # features whose positions are needed: candidates for sets, and best matches to test
    cand = (
        pairs.sort_values(f"val_{metric}", ascending=False)
        .groupby("concept", sort=False)
        .head(candidates)
    )
    tested = per_feature[per_feature[f"val_{metric}"] >= min_effect]
    if max_tests is not None:
        tested = tested.nlargest(max_tests, f"val_{metric}")
    wanted = set(cand["feature"]) | set(tested["feature"]) | set(per_concept["feature"])
    positions = collect(source, wanted, counts.scale, resolution, index)

    def active(feature: int, fraction: float) -> np.ndarray:
        pos, lv = positions[int(feature)]
        return indicator(index.size, pos[lv >= counts.level_of(fraction)])

    split_id = {"val": split.names.index(val_name), "test": split.names.index(test_name)}
    concept_rows = []
    order = list(dict.fromkeys(pairs["concept"]))
    for concept in tqdm(order, desc="feature sets", disable=not progress):
        best = per_concept[per_concept["concept"] == concept].iloc[0]
        row = {"concept": concept, **{f"single_{k}": best[k] for k in _REPORT_KEYS}}
        single_on = active(best["feature"], best["fraction"])
        sig = shift_test(single_on, concept, arrays, split_id["test"], n_shifts=n_shifts, seed=seed)
        row["single_p_value"] = sig["p_value"]
        members, union_on = _greedy_set(
            cand[cand["concept"] == concept],
            active,
            arrays,
            concept,
            split_id["val"],
            set_metric,
            set_size,
        )
        val = arrays.element_f1(union_on, concept, split_id["val"])
        tst = arrays.element_f1(union_on, concept, split_id["test"])
        sig = shift_test(union_on, concept, arrays, split_id["test"], n_shifts=n_shifts, seed=seed)
        row.update(
            {
                "set_features": ",".join(str(f) for f, _ in members),
                "set_fractions": ",".join(f"{x:g}" for _, x in members),
                "set_val_element_f1": val["element_f1"],
                "set_val_f1": val["f1"],
                **{
                    f"set_test_{k}": tst[k]
                    for k in ("element_f1", "precision", "recall", "element_recall", "f1")
                },
                "set_p_value": sig["p_value"],
                "positives_test": int(counts.positives[split_id["test"], order.index(concept)]),
                "elements_test": int(counts.elements[split_id["test"], order.index(concept)]),
            }
        )
        concept_rows.append(row)
    concept_table = pd.DataFrame(concept_rows)
    concept_table["single_q_value"] = benjamini_hochberg(concept_table["single_p_value"])
    concept_table["set_q_value"] = benjamini_hochberg(concept_table["set_p_value"])
    per_feature = per_feature.copy()
    per_feature["p_value"] = np.nan
    # by concept, so each concept's whole-genome arrays are built once
    for i in tqdm(tested.sort_values("concept").index, desc="null", disable=not progress):
        r = per_feature.loc[i]
        sig = shift_test(
            active(r["feature"], r["fraction"]),
            r["concept"],
            arrays,
            split_id["test"],
            n_shifts=feature_shifts or n_shifts,
            seed=seed,
        )
        per_feature.loc[i, "p_value"] = sig["p_value"]
    per_feature["q_value"] = benjamini_hochberg(per_feature["p_value"])
    settings = {
        "split": type(split).__name__,
        "split_names": list(split.names),
        "block": getattr(split, "block", None),
        "fractions": list(fractions),
        "metric": metric,
        "resolution": resolution,
        "set_size": set_size,
        "set_metric": set_metric,
        "candidates": candidates,
        "min_effect": min_effect,
        "n_shifts": n_shifts,
        "feature_shifts": feature_shifts or n_shifts,
        "max_tests": max_tests,
        "seed": seed,
    }
    return Alignment(counts, pairs, concept_table, per_feature, settings)


_REPORT_KEYS = (
    "feature",
    "fraction",
    "threshold",
    "val_element_f1",
    "test_element_f1",
    "test_precision",
    "test_recall",
    "test_element_recall",
    "test_f1",
    "test_auroc",
)


def _greedy_set(cand, active, arrays, concept, val_split, metric, set_size):
    """Forward selection on validation: add the candidate that most improves ``metric``."""
    options = [(int(f), float(x)) for f, x in zip(cand["feature"], cand["fraction"], strict=True)]
    ons = {opt: active(*opt) for opt in options}
    members = [options[0]]
    union = ons[options[0]].copy()
    score = arrays.element_f1(union, concept, val_split)[metric]
    while len(members) < set_size:
        trials = [
            (arrays.element_f1(union | ons[opt], concept, val_split)[metric], opt)
            for opt in options
            if opt[0] not in {m for m, _ in members}
        ]
        if not trials:
            break
        new, opt = max(trials)
        if new <= score + 1e-3:
            break
        members.append(opt)
        union |= ons[opt]
        score = new
    return members, union


def transfer(
    alignment: Alignment,
    other: AlignmentCounts,
    split: str = "test",
    *,
    best: str = "concept",
    source=None,
    tracks=None,
    min_effect: float = 0.0,
    n_shifts: int = N_SHIFTS,
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Score the thresholds chosen on one genome on another genome's counts.

    ``other`` must be counted with ``scale=alignment.counts.scale``.  ``best="concept"``
    scores each concept's best feature, ``best="feature"`` each feature's best concept
    (both as chosen on the first genome), on ``split`` of ``other``.  Given the other
    genome's ``source`` and ``tracks`` (counted with ``WholeSplit(split)``), rows whose
    element-F1 there reaches ``min_effect`` get a circular-shift ``p_value`` on that
    genome and a Benjamini-Hochberg ``q_value`` (the others keep NaN).
    """
    from ._score import scores

    if best not in ("concept", "feature"):
        raise ValueError(f"best must be 'concept' or 'feature', not {best!r}")
    chosen = (
        alignment.concepts.rename(
            columns={"single_feature": "feature", "single_fraction": "fraction"}
        )
        if best == "concept"
        else alignment.features
    )
    chosen = chosen[chosen["concept"].isin(other.concepts)]
    fractions = sorted(set(alignment.pairs["fraction"]))
    sc = scores(other, split, fractions)
    auroc = other.auroc(split)
    s = other.split_index(split)
    c = np.array([other.concepts.index(x) for x in chosen["concept"]], dtype=np.int64)
    f = chosen["feature"].to_numpy(dtype=np.int64)
    t = np.array([fractions.index(float(x)) for x in chosen["fraction"]], dtype=np.int64)
    table = pd.DataFrame(
        {
            "concept": chosen["concept"].to_numpy(),
            "feature": f,
            "fraction": chosen["fraction"].to_numpy(dtype=float),
            **{
                k: sc[k][c, f, t].astype(float)
                for k in ("element_f1", "precision", "recall", "element_recall", "f1")
            },
            "auroc": auroc[c, f].astype(float),
            "positives": other.positives[s, c].astype(np.int64),
            "elements": other.elements[s, c].astype(np.int64),
        }
    )
    if source is not None and tracks is not None:
        tested = table[table["element_f1"] >= min_effect]
        table["p_value"] = np.nan
        table.loc[tested.index, "p_value"] = _transfer_p_values(
            tested, other, source, tracks, split, n_shifts, seed, progress
        )
        table["q_value"] = benjamini_hochberg(table["p_value"])
    return table


def _transfer_p_values(table, other, source, tracks, split, n_shifts, seed, progress):
    if not len(table):
        return []
    index = GenomeIndex(dict(source.contigs), list(source.strands))
    arrays = ConceptArrays(tracks, index, WholeSplit(split))
    positions = collect(source, table["feature"], other.scale, other.resolution, index)
    p_values = []
    # by concept, so each concept's whole-genome arrays are built once
    ordered = table.sort_values("concept")
    for _, r in tqdm(ordered.iterrows(), total=len(ordered), desc="null", disable=not progress):
        pos, lv = positions[int(r["feature"])]
        on = indicator(index.size, pos[lv >= other.level_of(float(r["fraction"]))])
        p_values.append(
            shift_test(on, r["concept"], arrays, 0, n_shifts=n_shifts, seed=seed)["p_value"]
        )
    return pd.Series(p_values, index=ordered.index).reindex(table.index).to_numpy()


__all__ = ["Alignment", "align", "source_scale", "transfer"]
