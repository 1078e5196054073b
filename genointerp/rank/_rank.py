"""Rank features: known concepts, candidate novel concepts, and the rest, with evidence.

Classes (in this order; the first that applies):

* ``dead``: never active;
* ``known``: best concept's held-out (test) element-F1 >= ``known_f1`` and q < ``alpha``;
* ``dense``: active at more than ``dense`` of all positions;
* ``known`` (by motif): a candidate (next line) whose top-site PWM matches a motif
  concept of the tracks' catalog (e.g. ``bacterial_motifs``) through TOMTOM with
  ``motif_q < alpha``; its ``best_concept`` becomes that motif and ``known_by`` says
  ``motif`` (``element_f1`` for the first kind);
* ``candidate_novel``: structured and reproducible (below) with no known match: its best
  concept's held-out element-F1 is below ``known_f1`` (a strong match that was not
  tested, or not significant, is not novel) and it matches no known motif;
* ``uncharacterised``: everything else.

Motif matching: each candidate's trimmed validation PWM is compared with every motif
concept's matrix (a consensus becomes letter probabilities, ``R`` = half A, half G) by
:func:`~genointerp.rank.compare` with ``settings.compare`` (``auto``: memelite's TOMTOM,
with the JASPAR motifs given to :func:`rank` joining the targets as background so that
its null is a full database's columns; the built-in comparison when memelite is missing
or there are under 25 targets).  ``motif_p`` is the best motif's p-value; ``motif_q`` is
the Benjamini-Hochberg q-value over every candidate x motif comparison, so that the
motif calls, not each feature's, keep a false discovery rate of ``alpha``.

Structure and reproducibility come from the feature's top sites: a PWM is built from
the ``n_sites`` strongest validation sites and another from the strongest test sites
(each a window of ``2 * flank + 1`` nt read along the pass that fired).

* ``motif_ic``: information content (bits) of the best 8-column window of the
  validation PWM (20 bits at most);
* ``reproducibility``: mean Pearson correlation of matching columns of the
  validation and test PWMs (over the informative columns of either);
* structured: ``motif_ic >= min_ic`` or a periodic / element shape;
* reproducible: ``reproducibility >= min_reproducibility``.

Novelty score (candidates only, 0..1): ``reproducibility * min(1, motif_ic / 8) *
(1 - best held-out element-F1)``: a feature ranks high when it reads a sharp,
repeatable sequence pattern that no annotated concept explains.

Families (:mod:`genointerp.rank._families`): features that fire at the same positions
are grouped by Leiden on their co-firing; each family is read through its best member,
and evidence (JASPAR matches, logos) goes to the best members of the ``evidence`` best
known and candidate families.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import atomic_path
from .._stats import benjamini_hochberg
from ..errors import GenointerpError
from ..names import FEATURE_CLASSES
from ._families import (
    FamilySettings,
    FamilySummary,
    assign_families,
    best_members,
    family_summary,
    family_table,
    renumber_families,
)
from ._motifs import (
    Motif,
    comparisons,
    information_content,
    pwm_from_sites,
    read_meme,
    trim,
)
from ._sites import add_context, nearest_distances, top_sites

CLASSES = FEATURE_CLASSES


@dataclass
class RankSettings:
    known_f1: float = 0.5
    """Held-out element-F1 a feature's best concept must reach to call it known."""
    alpha: float = 0.05
    """q-value below which a match is significant."""
    dense: float = 0.10
    """Features active at more than this fraction of positions are dense."""
    min_ic: float = 4.0
    """Bits in the best 8-column window of the top-site PWM for a motif to count as structure."""
    min_reproducibility: float = 0.5
    """Validation/test PWM agreement needed to call a pattern reproducible."""
    n_sites: int = 50
    """Top sites per feature and split."""
    flank: int = 10
    """Nucleotides each side of a site in its context window."""
    evidence: int = 30
    """Families of each class, known and candidate novel (best first), whose best members
    get JASPAR matches and logos."""
    compare: str = "auto"
    """Motif comparison (:func:`~genointerp.rank.compare`): ``auto``, ``builtin`` or
    ``memelite``."""
    families: FamilySettings = field(default_factory=FamilySettings)
    """How features are grouped into families (co-firing, Leiden)."""


@dataclass
class Catalog:
    """The ranked features: ``table`` (one row per feature, with its ``family``),
    ``families`` (one row per family, :func:`~genointerp.rank.family_table`), ``sites``,
    ``matches``, ``pwms``.

    ``uns`` holds what made it, written to the AnnData's ``uns``: ``rank`` and ``align``
    (each ``{"params": settings}``) and ``sae`` (the SAE's provenance).  ``concepts`` is
    the alignment's per-concept table (for :meth:`summary`); ``cofiring`` the (d_sae,
    d_sae) co-firing phi the families were made from.
    """

    table: pd.DataFrame
    sites: pd.DataFrame
    matches: pd.DataFrame
    pwms: dict[int, np.ndarray] = field(default_factory=dict)
    scores: pd.DataFrame | None = None  # features x concepts held-out element-F1
    decoder: np.ndarray | None = None
    uns: dict = field(default_factory=dict)
    families: pd.DataFrame | None = None
    concepts: pd.DataFrame | None = None
    cofiring: object | None = None  # scipy.sparse (d_sae, d_sae)

    def summary(self) -> FamilySummary:
        """Known concepts (concept level), known and candidate families, as the run's
        summary line prints them (``str(catalog.summary())``)."""
        if self.families is None or self.concepts is None:
            raise GenointerpError(
                "this catalog has no families or no per-concept table. Fix: make it with "
                "gi.rank.rank, which adds both"
            )
        params = self.uns.get("rank", {}).get("params", {})
        return family_summary(
            self.table,
            self.families,
            self.concepts,
            params.get("known_f1", 0.5),
            params.get("alpha", 0.05),
        )

    def to_anndata(self):
        """AnnData: obs = features (with ``family``), X = held-out element-F1 per concept,
        obsm = decoder, obsp ``cofiring`` (phi), uns = classes, ``rank`` / ``align``
        settings (``uns[key]["params"]``), ``sae`` and ``families`` (``params``, the
        families ``table`` and the ``summary`` counts)."""
        import anndata as ad

        obs = self.table.copy()
        obs.index = [f"f{f}" for f in obs["feature"]]
        for col in obs.columns:
            if obs[col].dtype == object:
                obs[col] = obs[col].astype(str)
        obs["class"] = pd.Categorical(obs["class"], categories=CLASSES)
        X = self.scores.reindex(self.table["feature"]).to_numpy(dtype=np.float32)
        adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=list(self.scores.columns)))
        if self.decoder is not None:
            adata.obsm["decoder"] = self.decoder.astype(np.float32)
        if self.cofiring is not None:
            adata.obsp["cofiring"] = self.cofiring[self.table["feature"].to_numpy()][
                :, self.table["feature"].to_numpy()
            ].astype(np.float32)
        adata.uns["classes"] = list(CLASSES)
        adata.uns.update(json_safe(self.uns))
        if self.families is not None:
            families = self.families.copy()
            families.index = families.index.astype(str)
            adata.uns["families"] = {
                "params": json_safe(self.uns.get("rank", {}).get("params", {}).get("families")),
                "table": families,
            }
            if self.concepts is not None:
                adata.uns["families"]["summary"] = json_safe(asdict(self.summary()))
        return adata

    def write(self, folder: str | Path, *, logos: bool = True) -> Path:
        """``catalog.h5ad``, ``catalog.tsv``, ``families.tsv``, ``top_sites.tsv``,
        ``jaspar_matches.tsv`` and (``logos``) one logo PNG per feature with evidence in
        ``logos/``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "catalog.h5ad", suffix=".h5ad") as tmp:
            self.to_anndata().write_h5ad(tmp)
        tables = [
            ("catalog.tsv", self.table),
            ("top_sites.tsv", self.sites),
            ("jaspar_matches.tsv", self.matches),
        ]
        if self.families is not None:
            tables.append(("families.tsv", self.families))
        for name, table in tables:
            with atomic_path(folder / name) as tmp:
                table.to_csv(tmp, sep="\t", index=False, float_format="%.8g")
        if logos:
            # gi.pl draws every figure; imported here so that ranking never needs matplotlib
            from ..pl import write_logos

            write_logos(self.pwms, folder / "logos")
        return folder


def json_safe(value):
    """``value`` in the types anndata writes to ``uns`` and JSON reads back: dicts with
    string keys, str / int / float / bool / None, lists of numbers or of strings (other
    lists become a JSON string), numpy scalars and arrays as Python values, paths as str.

    Examples
    --------
    >>> json_safe({"fractions": (0.0, np.float32(0.5)), "block": None, "x": [1, "a"]})
    {'fractions': [0.0, 0.5], 'block': None, 'x': '[1, "a"]'}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        items = [json_safe(v) for v in value]
        numbers = all(isinstance(v, int | float) for v in items)
        if numbers or all(isinstance(v, str) for v in items):
            return items
        return json.dumps(items)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def classify(table: pd.DataFrame, settings: RankSettings) -> np.ndarray:
    """Class of each feature (see the module docstring) from its row of the catalog:
    ``density``, ``test_element_f1``, ``q_value``, ``motif_ic``, ``reproducibility``,
    ``shape`` and, when present, ``motif_q`` (a candidate with ``motif_q < alpha`` is known).
    """
    match = table["test_element_f1"].fillna(0.0)
    dead = table["density"] <= 0
    known = (match >= settings.known_f1) & (table["q_value"] < settings.alpha)
    dense = table["density"] > settings.dense
    structured = (table["motif_ic"] >= settings.min_ic) | table["shape"].isin(
        ["periodic", "element"]
    )
    reproducible = table["reproducibility"] >= settings.min_reproducibility
    candidate = (match < settings.known_f1) & structured & reproducible
    motif = table["motif_q"] < settings.alpha if "motif_q" in table else False
    return np.select(
        [dead, known, dense, candidate & motif, candidate],
        ["dead", "known", "dense", "known", "candidate_novel"],
        default="uncharacterised",
    )


def rank(
    alignment,
    features,
    genome,
    tracks,
    *,
    settings: RankSettings | None = None,
    motifs=None,
    decoder: np.ndarray | None = None,
    progress: bool = False,
) -> Catalog:
    """Classify every feature and gather evidence for known and candidate novel ones.

    Parameters
    ----------
    alignment
        :class:`~genointerp.align.Alignment` of ``features`` against ``tracks``.
    features
        The :class:`~genointerp.features.FeatureActivations` that were aligned.
    genome
        The genome they were computed on (for site sequences).
    tracks
        The concept tracks aligned; their motif concepts (``spec.motif``) are the known
        motifs candidates are compared with.
    motifs
        Motifs to match PWMs against (list of :class:`Motif` or a MEME file), e.g. JASPAR;
        also the background of the motif-concept comparison.
    decoder
        (d_sae, d_in) decoder directions for ``obsm["decoder"]``.
    """
    from ..align._splits import BlockSplit

    settings = settings or RankSettings()
    stats = features.stats.table()
    best = alignment.features.set_index("feature")
    table = stats.join(
        best[
            [
                "concept",
                "fraction",
                "threshold",
                "val_element_f1",
                "test_element_f1",
                "test_precision",
                "test_element_recall",
                "test_auroc",
                "p_value",
                "q_value",
            ]
        ].rename(columns={"concept": "best_concept"}),
        on="feature",
    )
    block = alignment.settings.get("block") or 100_000
    split = BlockSplit(block=block, names=tuple(alignment.settings["split_names"]))
    wanted = table.loc[table["density"] > 0, "feature"].to_numpy()
    sites = top_sites(features, wanted, split, settings.n_sites)
    sites = add_context(sites, genome, settings.flank)
    ic, repro, pwm_val = _motif_scores(sites, len(split.names))
    table["motif_ic"] = table["feature"].map(ic).astype(float)
    table["reproducibility"] = table["feature"].map(repro).astype(float)
    table["known_by"] = ""
    motifs = read_meme(motifs) if isinstance(motifs, str | Path) else motifs
    candidates = table.loc[classify(table, settings) == "candidate_novel", "feature"]
    known_motifs = motif_concepts(tracks)
    hits = _motif_matches(candidates, pwm_val, known_motifs, motifs or [], settings)
    table = table.merge(hits, on="feature", how="left")
    table["motif_match"] = table["motif_match"].fillna("")
    table["class"] = classify(table, settings)
    by_motif = (table["class"] == "known") & (table["motif_q"] < settings.alpha)
    table.loc[table["class"] == "known", "known_by"] = "element_f1"
    table.loc[by_motif, "known_by"] = "motif"
    table.loc[by_motif, "best_concept"] = table.loc[by_motif, "motif_match"]
    novelty = (
        table["reproducibility"].clip(0, 1)
        * (table["motif_ic"] / 8).clip(0, 1)
        * (1 - table["test_element_f1"].fillna(0))
    )
    table["novelty"] = np.where(table["class"] == "candidate_novel", novelty, np.nan)
    found = assign_families(features, table, settings.families)
    table["family"] = renumber_families(found.labels, table, settings.known_f1)
    leaders = best_members(table, settings.known_f1)
    table["family_best"] = table["feature"].isin(leaders["feature"])
    order = pd.concat(
        [
            leaders[leaders["class"] == c].head(settings.evidence)
            for c in ("known", "candidate_novel")
        ]
    )["feature"]
    matches = _matches(order, pwm_val, motifs, settings.compare)
    table = table.merge(
        matches.drop(columns=["offset", "orientation", "overlap"], errors="ignore"),
        on="feature",
        how="left",
    )
    near = nearest_distances(sites, tracks, alignment.counts.concepts)
    sites = pd.concat([sites, near.add_prefix("dist_")], axis=1)
    median = sites.groupby("feature")[[f"dist_{c}" for c in alignment.counts.concepts]].median()
    table = table.join(median.add_prefix("median_"), on="feature")
    table = _enrichment(table, alignment)
    scores = alignment.pairs.pivot(index="feature", columns="concept", values="test_element_f1")
    scores = scores[list(dict.fromkeys(alignment.pairs["concept"]))]
    uns = {
        "rank": {"params": asdict(settings)},
        "align": {"params": dict(alignment.settings)},
        "sae": dict(getattr(features, "sae", None) or {}),
    }
    pwms = {f: pwm_val[f] for f in order if f in pwm_val}
    families = family_table(table, found.similarity, settings.known_f1)
    return Catalog(
        table,
        sites,
        matches,
        pwms,
        scores,
        decoder,
        uns,
        families=families,
        concepts=alignment.concepts,
        cofiring=found.similarity,
    )


def _motif_scores(sites: pd.DataFrame, n_splits: int):
    ic, repro, pwms = {}, {}, {}
    for feature, group in sites.groupby("feature", sort=False):
        by_split = [group.loc[group["split"] == s, "context"].tolist() for s in range(n_splits)]
        if not by_split[0]:
            continue
        first = pwm_from_sites(by_split[0])
        pwms[int(feature)] = first
        bits = information_content(first)
        window = np.convolve(bits, np.ones(8), mode="valid") if len(bits) >= 8 else bits
        ic[int(feature)] = float(window.max()) if len(window) else 0.0
        if len(by_split) > 1 and by_split[-1]:
            second = pwm_from_sites(by_split[-1])
            repro[int(feature)] = _pwm_agreement(first, second)
    return ic, repro, pwms


def _pwm_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Pearson correlation of matching columns, over columns informative in either."""
    informative = (information_content(a) >= 0.25) | (information_content(b) >= 0.25)
    if not informative.any():
        return 0.0
    ac = a - a.mean(1, keepdims=True)
    bc = b - b.mean(1, keepdims=True)
    denom = np.sqrt((ac**2).sum(1) * (bc**2).sum(1))
    r = np.divide((ac * bc).sum(1), denom, out=np.zeros(len(a)), where=denom > 0)
    return float(r[informative].mean())


def _cores(features, pwms) -> dict[int, np.ndarray]:
    """Trimmed validation PWMs of at least 4 columns, by feature."""
    cores = {}
    for feature in features:
        if int(feature) in pwms:
            core, _ = trim(pwms[int(feature)])
            if len(core) >= 4:
                cores[int(feature)] = core
    return cores


def _matches(order, pwms, motifs, method: str) -> pd.DataFrame:
    """Best JASPAR (or other ``motifs``) match of each evidence feature, one batch."""
    columns = ["feature", "jaspar_id", "jaspar_name", "jaspar_p", "jaspar_q"]
    columns += ["offset", "orientation", "overlap"]
    cores = _cores(order, pwms)
    if not motifs or not cores:
        return pd.DataFrame(columns=columns)
    rows = []
    raw = comparisons(list(cores.values()), motifs, method=method)
    for feature, (score, p_value, offset, strand, overlap) in zip(cores, raw, strict=True):
        best = int(np.lexsort((-score, p_value))[0])
        rows.append(
            {
                "feature": feature,
                "jaspar_id": motifs[best].id,
                "jaspar_name": motifs[best].name,
                "jaspar_p": float(p_value[best]),
                "jaspar_q": float(benjamini_hochberg(np.asarray(p_value, float))[best]),
                "offset": int(offset[best]),
                "orientation": "+" if strand[best] == 0 else "-",
                "overlap": int(overlap[best]),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def motif_concepts(tracks) -> list[Motif]:
    """The motif concepts of the tracks' catalog as motifs (id = concept name)."""
    return [
        Motif(spec.name, spec.label, spec.motif.matrix())
        for spec in getattr(tracks, "specs", [])
        if getattr(spec, "motif", None) is not None
    ]


def _motif_matches(candidates, pwms, known: list[Motif], background, settings) -> pd.DataFrame:
    """Best motif concept of each candidate: ``motif_match``, ``motif_p``, ``motif_q``
    (Benjamini-Hochberg over every candidate x motif comparison)."""
    columns = ["feature", "motif_match", "motif_p", "motif_q"]
    cores = _cores(candidates, pwms)
    if not known or not cores:
        return pd.DataFrame(columns=columns).astype({"motif_p": float, "motif_q": float})
    raw = comparisons(list(cores.values()), known, background=background, method=settings.compare)
    p_values = np.stack([r[1] for r in raw])  # (candidates, motifs)
    q_values = benjamini_hochberg(p_values.ravel()).reshape(p_values.shape)
    best = np.array([np.lexsort((-r[0], r[1]))[0] for r in raw])
    rows = np.arange(len(best))
    return pd.DataFrame(
        {
            "feature": list(cores),
            "motif_match": [known[b].id for b in best],
            "motif_p": p_values[rows, best],
            "motif_q": q_values[rows, best],
        }
    )


def _enrichment(table: pd.DataFrame, alignment) -> pd.DataFrame:
    """Fold enrichment of each feature's activity (any activation, test split) per concept."""
    counts = alignment.counts
    s = counts.split_index(counts.splits[-1])
    tp = counts.tp[s].sum(-1).astype(float)  # (C, F): any level
    active = counts.active[s].sum(-1).astype(float)
    base = counts.positives[s] / max(counts.positions[s], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fold = (tp / active[None]) / base[:, None]
    frame = pd.DataFrame(fold.T, columns=[f"enrich_{c}" for c in counts.concepts])
    frame["feature"] = np.arange(fold.shape[1])
    return table.merge(frame, on="feature", how="left")
