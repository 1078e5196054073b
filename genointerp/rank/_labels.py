"""Short labels for features, built from their evidence, each scored as a testable claim.

A label is text a person reads ("CDS, codon position 1, own strand") and a *simulator*: the
activation pattern the label predicts.  Its score is the Pearson correlation between that
prediction and the feature's real activations at positions of held-out (test) blocks, the
way auto-interpretability scores an explanation by simulating the neuron from it
(Bills et al. 2023), with the simulator written from the label's terms instead of a
language model:

- a concept label predicts 1 on the concept (on the feature's strand) and 0 elsewhere; a
  codon-position label predicts 1 on that position of codons;
- a word label (from the top sites' consensus) predicts 1 where the word sits at the
  same offset from the position as in the top sites;
- a feature with neither gets "unlabelled" and no score.

Optionally, drafts from a language model can be scored the same way, as long as they are
written in these terms (``concept:<name>`` or ``word:<WORD>@<offset>``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._regions import true_runs
from ..models import reverse_complement
from ._motifs import information_content

PHASE_MIN = 0.6  # a feature this concentrated on one codon position is labelled with it
CODING = {"cds", "codon_pos1", "codon_pos2", "codon_pos3"}


@dataclass(frozen=True)
class Label:
    """A feature's label: readable text and the terms its simulator uses."""

    feature: int
    text: str
    concept: str = ""
    word: str = ""
    offset: int = 0
    """For a word: the word's first base relative to the position (strand-oriented)."""

    @property
    def kind(self) -> str:
        return "concept" if self.concept else "word" if self.word else "none"


def make_labels(table: pd.DataFrame, top_sites: pd.DataFrame | None = None) -> list[Label]:
    """One label per alive feature of a catalog ``table`` (catalog.tsv), from its best
    concept and codon phase when it is known, else from its top sites' consensus word."""
    words = consensus_words(top_sites) if top_sites is not None else {}
    labels = []
    for row in table.to_dict("records"):
        if row["class"] == "dead":
            continue
        labels.append(label_row(row, words.get(int(row["feature"]))))
    return labels


def label_row(row: dict, word: tuple[str, int] | None) -> Label:
    """The label of one catalog row (a dict of its columns)."""
    feature = int(row["feature"])
    concept = row.get("best_concept")
    concept = concept if isinstance(concept, str) else ""
    phase = _phase(row)
    if row["class"] == "known" and concept:
        if concept in CODING and phase is not None:
            name = f"codon_pos{phase + 1}"
            return Label(feature, f"coding sequence, codon position {phase + 1}", name)
        return Label(feature, concept.replace("_", " "), concept)
    if word is not None:
        text, offset = word
        where = "at" if offset <= 0 < offset + len(text) else f"{offset:+d} nt from"
        return Label(feature, f"word {text} {where} the position", word=text, offset=offset)
    return Label(feature, "unlabelled")


def _phase(row: dict) -> int | None:
    phases = [row.get(f"phase{j}", np.nan) for j in range(3)]
    if not np.all(np.isfinite(phases)) or max(phases) < PHASE_MIN:
        return None
    return int(np.argmax(phases))


def consensus_words(
    top_sites: pd.DataFrame, min_ic: float = 1.0, min_sites: int = 10
) -> dict[int, tuple[str, int]]:
    """Per feature: the core of its top sites' consensus (the longest run of columns with
    at least ``min_ic`` bits) and the core's offset from the site, from the strand-oriented
    ``context`` column (the site at its centre)."""
    out = {}
    for feature, group in top_sites.groupby("feature"):
        contexts = [c for c in group["context"].astype(str) if c and c != "nan"]
        lengths = {len(c) for c in contexts}
        if len(contexts) < min_sites or len(lengths) != 1:
            continue
        codes = np.frombuffer("".join(contexts).encode("ascii"), np.uint8)
        codes = codes.reshape(len(contexts), -1)
        counts = np.stack([(codes == ord(b)).sum(0) for b in "ACGT"], axis=1).astype(float) + 0.25
        pwm = counts / counts.sum(1, keepdims=True)
        ic = information_content(pwm)
        runs = true_runs(ic >= min_ic)
        if not runs:
            continue
        start, end = max(runs, key=lambda r: (r[1] - r[0], -abs(r[0] - codes.shape[1] // 2)))
        if end - start < 3:
            continue
        word = "".join("ACGT"[i] for i in pwm[start:end].argmax(1))
        out[int(feature)] = (word, start - codes.shape[1] // 2)
    return out


def simulate(label: Label, tracks, genome, contig: str, strand: str, start: int, end: int):
    """The activity ``label`` predicts at ``contig[start:end]`` on ``strand`` (genome
    order), as float32; None for an unlabelled feature."""
    if label.concept:
        mask = tracks.mask(contig, strand, start, end, concepts=[label.concept])[0]
        return mask.astype(np.float32)
    if not label.word:
        return None
    return word_hits(genome, label.word, label.offset, contig, strand, start, end)


def word_hits(genome, word: str, offset: int, contig, strand, start, end) -> np.ndarray:
    """1 at each position p of ``[start, end)`` where ``word`` starts ``offset`` nt from p,
    read 5' to 3' on ``strand``."""
    n, length = len(word), genome.lengths[contig]
    reach = abs(offset) + n
    lo, hi = max(0, start - reach), min(length, end + reach)
    seq = np.asarray(genome.codes(contig, lo, hi))
    target = np.frombuffer(word.upper().encode("ascii"), np.uint8)
    out = np.zeros(end - start, np.float32)
    if strand == "-":
        seq = reverse_complement(seq)  # index i of seq is genome position hi - 1 - i
    upper = np.where((seq >= 97) & (seq <= 122), seq - 32, seq)
    windows = np.lib.stride_tricks.sliding_window_view(upper, n)
    starts = np.flatnonzero((windows == target).all(1))
    # strand index q is genome position lo + q on '+', hi - 1 - q on '-'
    positions = lo + starts - offset if strand == "+" else hi - 1 - (starts - offset)
    positions = positions[(positions >= start) & (positions < end)]
    out[positions - start] = 1.0
    return out


def score_labels(
    labels: list[Label],
    features,
    tracks,
    genome,
    split,
    *,
    positions: int = 1 << 18,
    stretch: int = 4096,
    seed: int = 0,
) -> pd.DataFrame:
    """Each label's simulation score: the Pearson correlation of its prediction with the
    feature's activations at about ``positions`` positions of the test blocks (random
    stretches of ``stretch`` nt on random strands)."""
    rng = np.random.default_rng(seed)
    regions = split_regions(split, features.contigs)
    picks = []
    sizes = np.array([e - s for _, s, e in regions], dtype=float)
    for _ in range(max(1, positions // stretch)):
        contig, lo, hi = regions[rng.choice(len(regions), p=sizes / sizes.sum())]
        start = int(rng.integers(lo, max(lo + 1, hi - stretch)))
        picks.append((contig, "+" if rng.random() < 0.5 else "-", start, min(hi, start + stretch)))
    wanted = [label.feature for label in labels]
    real = sp.vstack([_columns(features, p, wanted) for p in picks], format="csc")
    rows = []
    predictions: dict[tuple, np.ndarray | None] = {}  # labels of one concept or word share it
    for j, label in enumerate(labels):
        key = (label.concept, label.word, label.offset)
        if key not in predictions:
            sims = [simulate(label, tracks, genome, *p) for p in picks]
            predictions[key] = None if sims[0] is None else np.concatenate(sims)
        predicted = predictions[key]
        if predicted is None:
            rows.append({"feature": label.feature, "label": label.text, "kind": label.kind})
            continue
        actual = real[:, j].toarray().ravel()
        rows.append(
            {
                "feature": label.feature,
                "label": label.text,
                "kind": label.kind,
                "score": _pearson(predicted, actual),
                "predicted_fraction": float(predicted.mean()),
            }
        )
    return pd.DataFrame(rows)


def _columns(features, pick, wanted: list[int]) -> sp.csr_matrix:
    """Activations of the ``wanted`` features at one picked stretch, sparse (rows, wanted)."""
    contig, strand, start, end = pick
    if hasattr(features, "chunk"):
        chunk = features.chunk(contig, strand, start, end)
        shape = (end - start, features.d_sae)
        block = sp.csr_matrix((chunk.values.astype(np.float32), chunk.indices, chunk.indptr), shape)
        return block[:, wanted]
    return sp.csr_matrix(features.dense(contig, strand, start, end, features=wanted))


def split_regions(split, contigs: dict[str, int], name: str = "test") -> list[tuple[str, int, int]]:
    """The stretches of a split's part ``name`` (:mod:`genointerp.align` splits) as
    (contig, start, end)."""
    test = split.names.index(name)
    out = []
    for contig, length in contigs.items():
        ids = split.ids(contig, length)
        out += [(contig, lo, hi) for lo, hi in true_runs(ids == test)]
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


__all__ = [
    "Label",
    "consensus_words",
    "make_labels",
    "score_labels",
    "simulate",
    "split_regions",
    "word_hits",
]
