"""Feature families: SAE features that fire at the same positions, grouped so that a
catalog reads as a short list of distinct things.

**Similarity: co-firing.** Two features are near-copies, for someone reading the catalog,
when they fire at the same places: their calls are then the same call.  The similarity
of features *i* and *j* is the phi coefficient (Pearson correlation of the 0/1 "active"
indicators) over a sample of positions, read on both strands::

    phi = (n * c_ij - c_i * c_j) / sqrt(c_i * (n - c_i) * c_j * (n - c_j))

with ``n`` sampled positions, ``c_i`` those where *i* fires and ``c_ij`` those where both
fire.  For two features of equal, small density, phi is about the fraction of one's
positions where the other fires too.  Pairs sharing fewer than ``min_shared`` positions,
or with ``phi < min_phi``, are not linked.  The sample is ``positions`` rows (position x
strand) read in ``stretches`` evenly spaced stretches of the genome: no random draw, so
the same file always gives the same sample.

The decoder cosine is not used, because on the demo SAE it does not find copies.  Its
highest pairs among candidates read different words and never fire together (e.g.
``TCCACCACCA`` and ``TCGCCCAGG``: cosine 0.55, phi 0.00).  Over all pairs it correlates
weakly with co-firing (r = 0.26).  TopK features with close directions compete for the
same positions rather than share them.

**Clustering: Leiden with the constant Potts model** (scanpy's ``sc.tl.leiden``, igraph
flavour, ``objective_function="CPM"``) on the weighted co-firing graph.  CPM with
resolution ``resolution`` keeps a group together when its members' mean pairwise phi
(unlinked pairs count 0) exceeds the resolution, so a family means the same thing in a
small and a large SAE, unlike modularity, whose clusters grow with the graph.  It also
does not chain: two features that each co-fire with a third but not with each other are
split unless the group as a whole is tight.  Seeded (``seed``), and run until no move
improves it, so the same input gives the same families.

Dead features get family -1.  Families are numbered in reading order: known families
(best held-out element-F1 first), candidate families (highest novelty first), then the
rest (largest first).  A family's **best member** is, in this order: its known member
with the highest held-out element-F1; its member with the highest element-F1 at or above
the known cut-off (a strong match that was not tested, or not significant); its
candidate with the highest novelty; its member with the highest element-F1.  The
family's ``class`` is that member's class.  So a family is known exactly when it holds a
known feature, and, as for a single feature, a family with a strong match is never a
candidate family: which families are candidates does not depend on how many per-feature
tests were run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

_COUNTED = ("known", "candidate_novel", "uncharacterised", "dense")  # members per class


@dataclass
class FamilySettings:
    resolution: float = 0.3
    """Leiden CPM resolution: the mean pairwise co-firing phi a family's members need."""
    min_phi: float = 0.1
    """Pairs with a lower phi are not linked."""
    min_shared: int = 5
    """Sampled positions two features must share to be linked."""
    positions: int = 1 << 19
    """Rows (position x strand) sampled for co-firing."""
    stretches: int = 64
    """Evenly spaced genome stretches the sample is read in."""
    seed: int = 0
    """Seed of the Leiden clustering."""

    def __post_init__(self) -> None:
        if not 0 < self.resolution <= 1 or not 0 <= self.min_phi <= 1:
            raise ValueError(
                f"family resolution {self.resolution} and min_phi {self.min_phi}: both are "
                "phi coefficients; give values in (0, 1]"
            )
        if self.positions < 1 or self.stretches < 1 or self.min_shared < 1:
            raise ValueError(
                f"family positions {self.positions}, stretches {self.stretches} and "
                f"min_shared {self.min_shared}: give each at least 1"
            )


def sample_activity(
    features, positions: int = 1 << 19, stretches: int = 64, values: bool = False
) -> sp.csr_matrix:
    """0/1 activity of every feature at about ``positions`` rows, a CSR matrix
    (rows, d_sae): ``stretches`` stretches evenly spaced along the contigs laid end to
    end, each read on every strand (a stretch stops at its contig's end).  ``values``:
    the activations themselves instead of 0/1.  Two files of one genome give the same
    rows, so their samples line up."""
    contigs = features.contigs
    strands = list(features.strands)
    total = sum(contigs.values())
    length = max(1, positions // (stretches * len(strands)))
    ends = np.cumsum(list(contigs.values()))
    names = list(contigs)
    blocks = []
    starts = np.unique(np.linspace(0, total, stretches, endpoint=False).astype(np.int64))
    for offset in starts:
        k = int(np.searchsorted(ends, offset, side="right"))
        start = int(offset - (ends[k - 1] if k else 0))
        end = min(start + length, contigs[names[k]])
        for strand in strands:
            chunk = features.chunk(names[k], strand, start, end)
            data = chunk.values if values else np.ones(len(chunk.indices))
            data = data.astype(np.float32)
            shape = (end - start, features.d_sae)
            blocks.append(
                sp.csr_matrix((data, chunk.indices.astype(np.int32), chunk.indptr), shape)
            )
    return sp.vstack(blocks, format="csr")


def cofiring(active: sp.csr_matrix, min_phi: float = 0.1, min_shared: int = 5) -> sp.csr_matrix:
    """Phi coefficient of every pair of features that fire together at ``min_shared``
    rows or more of ``active`` (rows, d_sae; 0/1), kept where ``phi >= min_phi``: a
    symmetric (d_sae, d_sae) matrix with an empty diagonal.

    Examples
    --------
    >>> rows = sp.csr_matrix(np.array([[1, 1, 0]] * 6 + [[0, 0, 1]] * 6 + [[0, 0, 0]] * 4))
    >>> cofiring(rows).toarray()
    array([[0., 1., 0.],
           [1., 0., 0.],
           [0., 0., 0.]])
    """
    n = active.shape[0]
    active = (active > 0).astype(np.float32).tocsr()
    shared = (active.T @ active).tocoo()  # (d_sae, d_sae) co-firing counts
    count = np.asarray(active.sum(0), dtype=np.float64).ravel()
    i, j, both = shared.row, shared.col, shared.data.astype(np.float64)
    keep = (i != j) & (both >= min_shared)
    i, j, both = i[keep], j[keep], both[keep]
    spread = count * (n - count)
    denom = np.sqrt(spread[i] * spread[j])
    phi = np.divide(n * both - count[i] * count[j], denom, out=np.zeros_like(both), where=denom > 0)
    keep = phi >= min_phi
    return sp.csr_matrix((phi[keep], (i[keep], j[keep])), shape=shared.shape)


def leiden_families(
    similarity: sp.csr_matrix, alive: np.ndarray, settings: FamilySettings
) -> np.ndarray:
    """Leiden (CPM) families of the ``alive`` features on ``similarity``; -1 for the rest.
    Labels are Leiden's own (``renumber_families`` puts them in reading order)."""
    import anndata as ad
    import scanpy as sc

    alive = np.asarray(alive, bool)
    labels = np.full(len(alive), -1, dtype=np.int64)
    index = np.flatnonzero(alive)
    if len(index) == 0:
        return labels
    graph = similarity[index][:, index].tocsr()
    holder = ad.AnnData(obs=pd.DataFrame(index=[str(f) for f in index]))
    sc.tl.leiden(
        holder,
        resolution=settings.resolution,
        objective_function="CPM",
        flavor="igraph",
        n_iterations=-1,
        directed=False,
        adjacency=graph,
        random_state=settings.seed,
        key_added="family",
    )
    labels[index] = holder.obs["family"].astype(int).to_numpy()
    return labels


class Families(NamedTuple):
    """:func:`assign_families`'s result: ``labels`` (one per catalog row, -1 for dead features, as
    Leiden numbers them) and ``similarity`` (d_sae, d_sae) co-firing phi."""

    labels: np.ndarray
    similarity: sp.csr_matrix


def assign_families(
    features, table: pd.DataFrame, settings: FamilySettings | None = None
) -> Families:
    """Leiden family of each row of ``table`` (a catalog with ``feature`` and ``density``)
    from the co-firing of ``features`` (a :class:`~genointerp.features.FeatureActivations`).
    """
    settings = settings or FamilySettings()
    active = sample_activity(features, settings.positions, settings.stretches)
    similarity = cofiring(active, settings.min_phi, settings.min_shared)
    alive = np.zeros(features.d_sae, bool)
    alive[table.loc[table["density"] > 0, "feature"].to_numpy()] = True
    labels = leiden_families(similarity, alive, settings)
    return Families(labels[table["feature"].to_numpy()], similarity)


def best_members(table: pd.DataFrame, known_f1: float = 0.5) -> pd.DataFrame:
    """The best member of each family (see the module docstring), one row per family, in
    reading order.  ``table``: catalog rows with ``family``, ``class``,
    ``test_element_f1`` and ``novelty``; ``known_f1``: the known cut-off (a member at or
    above it that is not known keeps its family from being a candidate family)."""
    rows = table[table["family"] >= 0].copy()
    strong = (rows["test_element_f1"].fillna(0) >= known_f1) & (rows["class"] != "known")
    priority = rows["class"].map({"known": 0, "candidate_novel": 2, "uncharacterised": 3})
    rows["_priority"] = np.where(strong, 1, priority.fillna(4))
    rows["_score"] = np.where(
        rows["class"] == "candidate_novel", rows["novelty"], rows["test_element_f1"]
    )
    rows["_score"] = rows["_score"].fillna(-1.0)
    best = rows.sort_values(["_priority", "_score", "feature"], ascending=[True, False, True])
    best = best.drop_duplicates("family")
    best["_size"] = best["family"].map(rows["family"].value_counts())
    # known families, then candidate families, by score; the others largest first
    best["_group"] = best["class"].map({"known": 0, "candidate_novel": 1}).fillna(2)
    best["_order"] = np.where(best["_group"] < 2, -best["_score"], -best["_size"])
    best = best.sort_values(["_group", "_order", "feature"])
    return best.drop(columns=["_priority", "_score", "_size", "_group", "_order"])


def renumber_families(labels: np.ndarray, table: pd.DataFrame, known_f1: float = 0.5) -> np.ndarray:
    """``labels`` (one per row of ``table``) renumbered 0, 1, ... in reading order."""
    ranked = best_members(table.assign(family=labels), known_f1)
    new = {old: k for k, old in enumerate(ranked["family"])}
    return np.array([new.get(x, -1) for x in labels], dtype=np.int64)


FAMILY_COLUMNS = (
    "family",
    "size",
    "class",
    "best_feature",
    "best_concept",
    "test_element_f1",
    "q_value",
    "known_by",
    "motif_match",
    "motif_q",
    "novelty",
    "jaspar_name",
    "n_known",
    "n_candidate_novel",
    "n_uncharacterised",
    "n_dense",
    "concepts",
    "mean_phi",
    "members",
)


def family_table(
    table: pd.DataFrame, similarity: sp.csr_matrix | None = None, known_f1: float = 0.5
) -> pd.DataFrame:
    """One row per family of ``table`` (catalog rows with a ``family`` column), in reading
    order: its size, class and best member (feature, concept, held-out element-F1, q,
    motif match, novelty, JASPAR name), members per class, members' best concepts
    (``cds:40,intergenic:1``, most frequent first), mean co-firing phi over member pairs
    (``similarity``; blank for single features) and the members (best first)."""
    best = best_members(table, known_f1)
    rows = table[table["family"] >= 0]
    groups = rows.groupby("family")
    out = pd.DataFrame({"family": best["family"].to_numpy()})
    out["size"] = out["family"].map(groups.size()).astype(int)
    out["class"] = best["class"].to_numpy()
    out["best_feature"] = best["feature"].to_numpy()
    for col in FAMILY_COLUMNS[4:12]:
        out[col] = best[col].to_numpy() if col in best.columns else np.nan
    for cls in _COUNTED:
        counts = rows[rows["class"] == cls].groupby("family").size()
        out[f"n_{cls}"] = out["family"].map(counts).fillna(0).astype(int)
    out["concepts"] = out["family"].map(groups["best_concept"].agg(_tally))
    members = rows.assign(_best=rows["feature"].isin(best["feature"]))
    members = members.sort_values(["_best", "feature"], ascending=[False, True])
    grouped = members.groupby("family")["feature"]
    out["members"] = out["family"].map(grouped.agg(lambda f: ",".join(map(str, f))))
    if similarity is not None:
        out["mean_phi"] = [_mean_phi(similarity, grouped.get_group(f)) for f in out["family"]]
    for col in ("known_by", "motif_match", "jaspar_name"):
        out[col] = out[col].fillna("")
    return out[list(FAMILY_COLUMNS)]


def _tally(concepts: pd.Series) -> str:
    counts = concepts.dropna().astype(str).value_counts()
    return ",".join(f"{c}:{n}" for c, n in counts.items())


def _mean_phi(similarity: sp.csr_matrix, members: pd.Series) -> float:
    """Mean phi over pairs of ``members`` (unlinked pairs count 0); NaN for one feature."""
    index = members.to_numpy()
    if len(index) < 2:
        return float("nan")
    block = similarity[index][:, index]
    return float(block.sum() / (len(index) * (len(index) - 1)))


@dataclass
class FamilySummary:
    """The counts of a run's summary line.  The known concepts and the candidate families
    do not depend on how many per-feature tests were run (the alignment's
    ``max_tests``); the known features and their families do, and the line says how
    many features were tested.

    ``known_concepts`` are known at concept level: the alignment tests each concept's best
    single feature (chosen on validation) whatever ``max_tests`` is, and a concept is
    known when that feature's held-out element-F1 reaches the known cut-off with q below
    alpha, or when a candidate's logo matches it as a motif concept.
    """

    concepts: int
    """Concepts aligned."""
    known_concepts: list[str]
    """Concepts known at concept level, best first."""
    known_families: int
    """Families holding a known feature."""
    known_features: int
    """Known features (each passed its own test)."""
    tested: int
    """Per-feature tests run (the alignment's ``max_tests`` caps them)."""
    candidate_families: int
    """Families whose best member is a candidate."""
    candidate_features: int
    """Candidate-novel features in those families."""

    def __str__(self) -> str:
        names = ", ".join(self.known_concepts) or "none"
        return (
            f"known concepts: {len(self.known_concepts)} of {self.concepts} ({names}); "
            f"known features: {self.known_features} in {self.known_families} families "
            f"({self.tested} features tested one by one); candidates: "
            f"{self.candidate_families} families ({self.candidate_features} features)"
        )


def family_summary(
    table: pd.DataFrame,
    families: pd.DataFrame,
    concepts: pd.DataFrame,
    known_f1: float = 0.5,
    alpha: float = 0.05,
) -> FamilySummary:
    """The run's :class:`FamilySummary` from the catalog ``table``, its ``families`` and
    the alignment's per-concept table (``concepts.tsv``: ``concept``,
    ``single_test_element_f1``, ``single_q_value``)."""
    single = (concepts["single_test_element_f1"] >= known_f1) & (concepts["single_q_value"] < alpha)
    known = concepts[single].sort_values("single_test_element_f1", ascending=False)
    names = list(known["concept"])
    if "known_by" in table:
        by_motif = table.loc[table["known_by"] == "motif", "best_concept"].dropna().astype(str)
        names += [c for c in dict.fromkeys(by_motif) if c not in names]
    candidate = families.loc[families["class"] == "candidate_novel", "family"]
    in_candidate = table["family"].isin(candidate) & (table["class"] == "candidate_novel")
    return FamilySummary(
        concepts=len(concepts),
        known_concepts=names,
        known_families=int((families["class"] == "known").sum()),
        known_features=int((table["class"] == "known").sum()),
        tested=int(table["p_value"].notna().sum()) if "p_value" in table else 0,
        candidate_families=len(candidate),
        candidate_features=int(in_candidate.sum()),
    )


def read_summary(folder) -> FamilySummary | None:
    """The :class:`FamilySummary` that :meth:`Catalog.write` stored in
    ``folder/catalog.h5ad`` (``uns["families"]["summary"]``); None for a catalog written
    before families were made."""
    from pathlib import Path

    import h5py

    try:
        from anndata.io import read_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import read_elem

    path = Path(folder) / "catalog.h5ad"
    if not path.is_file():
        return None
    with h5py.File(path, "r") as file:
        if "uns/families/summary" not in file:
            return None
        values = read_elem(file["uns/families/summary"])
    values["known_concepts"] = [str(c) for c in np.atleast_1d(values["known_concepts"])]
    return FamilySummary(**{k: v if k == "known_concepts" else int(v) for k, v in values.items()})
