"""Steering generation: sample sequences from a causal model with a feature edit in place,
at several strengths, and measure what came out.

Generation samples one nucleotide at a time from the model's next-nucleotide distribution
(temperature 1 by default, a fixed seed), reading at most the model's reach of left context
(``Adapter.default_min_context + 1`` nucleotides for the built-in model: what a position
can see).  The edit is applied at every position the model reads, prompt included, as
steering recipes do (a clamp or a push held on for the whole generation).

The measures are plain sequence statistics, so a steered and an unsteered run compare
directly: ORF length and coverage (stop to stop, six frames), the period-3 signal of coding
DNA, and the frequency of a word on both strands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..errors import GenointerpError
from ..models import as_codes, reverse_complement
from ..sae import SAE
from ._edit import FeatureEdit, check_spliceable, edit_function, logits_and_layer, scaled

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
STOPS = (b"TAA", b"TAG", b"TGA")


@torch.no_grad()
def generate(
    model,
    prompts: Sequence[str],
    length: int,
    *,
    sae: SAE | None = None,
    layer: str = "",
    edit: FeatureEdit | None = None,
    seed: int = 0,
    temperature: float = 1.0,
    context: int | None = None,
    progress: bool = False,
) -> list[str]:
    """Extend each of ``prompts`` (equal lengths) by ``length`` sampled nucleotides, with
    ``edit`` of ``sae``'s features spliced in at ``layer`` (None: the model as it is)."""
    if not model.causal or not model.acgt_logits:
        raise GenointerpError(
            f"generation samples next nucleotides from the built-in model's vocabulary; "
            f"{model.model_id!r} is not such a causal model. Fix: steer the built-in model"
        )
    if edit is not None:
        check_spliceable(layer)
        if sae is None:
            raise GenointerpError("an edit needs its SAE. Fix: pass sae=...")
    context = model.default_min_context + 1 if context is None else context
    codes = as_codes(list(prompts))
    rng = torch.Generator().manual_seed(seed)
    fn = (lambda x: x) if edit is None else edit_function(sae.to(model.device).eval(), edit)
    steps = tqdm(range(length), desc="generate", unit="nt", disable=not progress)
    for _ in steps:
        window = codes[:, -context:]
        logits = model.splice(window, layer or model.layers[-1], fn)
        probs = torch.softmax(logits[:, -1, :4].float().cpu() / temperature, dim=-1)
        picks = torch.multinomial(probs, 1, generator=rng)[:, 0].numpy()
        codes = np.concatenate([codes, BASES[picks][:, None]], axis=1)
    return [row[len(prompts[0]) :].tobytes().decode("ascii") for row in codes]


UNSTEERED, TWIN = "none", "none, next seed"  # the ``edit`` of the unsteered rows


@dataclass
class SteeringResult:
    """Generated sequences and their measures, one row per (edit, strength, prompt).

    Rows with ``edit`` ``none`` are the unsteered model (strength NaN); ``none, next seed``
    is the unsteered model sampled with the next seed, the noise floor of every
    comparison between two samples."""

    table: pd.DataFrame
    sequences: dict[tuple[float | str, int], str]
    """Outputs by (strength, prompt), the unsteered ones by (``"none"``, prompt)."""

    def dose_response(self) -> pd.DataFrame:
        """Mean of every measure per edit and strength (the dose-response), the unsteered
        rows first."""
        numeric = self.table.drop(columns=["prompt"])
        means = numeric.groupby(["edit", "strength"], dropna=False, sort=False).mean()
        return means.reset_index()

    def effect(self, measure: str) -> dict:
        """How ``measure`` answers the edit: its unsteered mean, its mean at the highest
        strength and their difference (``effect``), the Spearman correlation of strength and
        measure over the steered samples (``rho``, the dose-response), the Wilcoxon
        signed-rank p of the per-prompt differences between the highest strength and the
        unsteered output (``p_value``; NaN under 6 prompts), and at the highest strength the
        relative change of the other features' activity (``others_change``) beside its noise
        floor (``others_noise``: the next-seed unsteered samples)."""
        from scipy.stats import spearmanr

        table = self.table
        if measure not in table:
            raise GenointerpError(
                f"no measure {measure!r}; the table has {sorted(table.columns)}. Fix: name "
                "one of them (a word's measure needs words=[...])"
            )
        steered = table[~table["edit"].isin([UNSTEERED, TWIN])]
        top = steered[steered["strength"] == steered["strength"].max()]
        base = table[table["edit"] == UNSTEERED].set_index("prompt")[measure]
        unsteered = base.mean()
        varies = steered["strength"].nunique() > 1 and steered[measure].nunique() > 1
        rho = spearmanr(steered["strength"], steered[measure])[0] if varies else np.nan
        paired = (top.set_index("prompt")[measure] - base.reindex(top["prompt"])).dropna()
        return {
            "measure": measure,
            "unsteered": float(unsteered),
            "steered": float(top[measure].mean()),
            "effect": float(top[measure].mean() - unsteered),
            "rho": float(rho),
            "p_value": _signed_rank(paired.to_numpy()),
            "others_change": _mean(top, "others_change"),
            "others_noise": _mean(table[table["edit"] == TWIN], "others_change"),
        }


def _signed_rank(differences: np.ndarray, min_prompts: int = 6) -> float:
    """Two-sided Wilcoxon signed-rank p of per-prompt differences (steered - unsteered, the
    same prompt and seed); NaN with fewer than ``min_prompts`` prompts (p cannot go below
    2 / 2**n) or when every difference is 0."""
    from scipy.stats import wilcoxon

    if len(differences) < min_prompts or not np.any(differences):
        return float("nan")
    return float(wilcoxon(differences).pvalue)


def _mean(table: pd.DataFrame, column: str) -> float:
    return float(table[column].mean()) if column in table and len(table) else float("nan")


def steer(
    model,
    sae: SAE,
    layer: str,
    features: int | Sequence[int],
    prompts: Sequence[str],
    strengths: Sequence[float],
    *,
    mode: str = "clamp",
    maxima: np.ndarray | None = None,
    length: int = 1000,
    words: Sequence[str] = (),
    annotators: Sequence[str] = (),
    seed: int = 0,
    progress: bool = True,
) -> SteeringResult:
    """Generate from every prompt at every strength and measure the output.

    ``mode`` ``clamp`` holds the features at ``strength`` (times each feature's maximum
    when ``maxima`` is given); ``add`` pushes along their decoder directions by
    ``strength`` (times the maximum likewise).  Strength 0 with ``add`` is the unsteered
    model; every strength uses the same seed, so differences come from the edit.
    ``annotators`` (``aragorn``, ``barrnap``) count what they find in each output, per kb.

    The unsteered model is sampled too (``edit`` ``none``), and again with the next seed
    (``none, next seed``: the noise floor).  Every output is read back by the unedited
    model: ``target_activity`` is the edited features' mean activation on it, and
    ``others_change`` the other features' summed absolute change in mean activation
    against the unsteered output of the same prompt, relative to their unsteered total
    (0: the rest of the dictionary is untouched; selectivity is a large target change with
    ``others_change`` near its noise floor).
    """
    features = (features,) if isinstance(features, int | np.integer) else tuple(features)
    runs = [(UNSTEERED, np.nan, None, seed), (TWIN, np.nan, None, seed + 1)]
    for strength in strengths:
        edit = FeatureEdit(tuple(int(f) for f in features), mode, float(strength))
        runs.append(
            (mode, float(strength), scaled(edit, maxima) if maxima is not None else edit, seed)
        )
    rows, sequences, means = [], {}, []
    for name, strength, edit, run_seed in tqdm(
        runs, desc="steer", unit="edit", disable=not progress
    ):
        outputs = generate(model, prompts, length, sae=sae, layer=layer, edit=edit, seed=run_seed)
        means.append(read_back(model, sae, layer, prompts, outputs))
        found = annotated(outputs, annotators) if annotators else [{} for _ in outputs]
        for p, seq in enumerate(outputs):
            if name != TWIN:
                sequences[(UNSTEERED if name == UNSTEERED else strength, p)] = seq
            row = {"edit": name, "strength": strength, "prompt": p}
            rows.append({**row, **measure(seq, words), **found[p]})
    table = pd.DataFrame(rows)
    others = np.setdiff1d(np.arange(sae.d_sae), features)
    baseline = means[0][:, others]  # the unsteered run comes first
    activity, change = [], []
    for m in means:
        activity.append(m[:, list(features)].mean(1))
        shift = np.abs(m[:, others] - baseline).sum(1)
        change.append(shift / np.maximum(baseline.sum(1), 1e-12))
    return SteeringResult(
        table.assign(
            target_activity=np.concatenate(activity), others_change=np.concatenate(change)
        ),
        sequences,
    )


@torch.no_grad()
def read_back(model, sae: SAE, layer: str, prompts: Sequence[str], outputs: Sequence[str]):
    """``(outputs, d_sae)``: each feature's mean activation over a generated sequence, read
    by the unedited model with its prompt before it (so the first outputs have context)."""
    check_spliceable(layer)
    sae = sae.to(model.device).eval()
    means = []
    for prompt, output in zip(prompts, outputs, strict=True):
        _, layer_out = logits_and_layer(model, as_codes(prompt + output), layer)
        acts = layer_out[0, len(prompt) :].float()
        means.append(sae.encode(acts).mean(0).cpu().numpy())
    return np.stack(means)


MEASURES = ("gc", "mean_orf", "longest_orf", "orf_coverage_300", "period3")
"""What :func:`measure` gives every sequence (then ``word_<w>`` per word)."""


def measure(seq: str, words: Sequence[str] = ()) -> dict:
    """ORF statistics (mean and longest stop-to-stop stretch; ``orf_coverage_300``: the
    fraction of the six frames' positions in stretches of 300 nt or more), the period-3
    signal, GC and word frequencies (per kb, both strands) of one sequence."""
    orfs = orf_lengths(seq)
    out = {
        "gc": (seq.count("G") + seq.count("C")) / max(len(seq), 1),
        "mean_orf": float(np.mean(orfs)) if len(orfs) else 0.0,
        "longest_orf": int(max(orfs, default=0)),
        "orf_coverage_300": float(sum(o for o in orfs if o >= 300) / max(6 * len(seq), 1)),
        "period3": period3(seq),
    }
    for word in words:
        out[f"word_{word}"] = word_rate(seq, word)
    return out


def annotated(seqs: Sequence[str], tools: Sequence[str]) -> list[dict]:
    """Per sequence, what each annotator finds per kb (``aragorn_tRNA`` ...), run on all
    the sequences as contigs of one genome, with a throw-away cache."""
    import tempfile

    from ..annotate import annotate
    from ..io import Genome

    genome = Genome.from_sequences({f"s{i}": seq for i, seq in enumerate(seqs)})
    with tempfile.TemporaryDirectory(prefix="genointerp-steer-") as cache:
        table = annotate(genome, list(tools), translation_table=11, cache_dir=cache)
    out = []
    for i, seq in enumerate(seqs):
        rows = table[table["Chromosome"] == f"s{i}"] if len(table) else table
        counts = rows.groupby(["Annotator", "Feature"]).size() if len(rows) else {}
        kb = max(len(seq), 1) / 1000
        record = {f"{tool}_{kind}": n / kb for (tool, kind), n in dict(counts).items()}
        out.append(record)
    keys = sorted({k for r in out for k in r})
    return [{k: r.get(k, 0.0) for k in keys} for r in out]


def orf_lengths(seq: str) -> list[int]:
    """Lengths (nt) of the stop-to-stop open stretches in all six frames; stretches cut by
    the sequence's ends count up to the end."""
    lengths = []
    for strand in (seq, reverse_complement(as_codes(seq)[0]).tobytes().decode("ascii")):
        data = strand.encode("ascii")
        for frame in range(3):
            last = frame
            for i in range(frame, len(data) - 2, 3):
                if data[i : i + 3] in STOPS:
                    lengths.append(i - last)
                    last = i + 3
            lengths.append(len(data) - last - (len(data) - last) % 3)
    return [n for n in lengths if n > 0]


def period3(seq: str) -> float:
    """The period-3 signal: sum over the four bases of |DFT at frequency 1/3|^2 of the base's
    0/1 indicator, divided by its expectation for a random sequence of the same
    composition (1 = no periodicity; coding DNA is well above)."""
    codes = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    n = len(codes)
    if n < 3:
        return float("nan")
    phase = np.exp(-2j * np.pi * np.arange(n) / 3)
    power, expected = 0.0, 0.0
    for base in BASES:
        u = (codes == base).astype(np.float64)
        power += abs((u * phase).sum()) ** 2
        p = u.mean()
        expected += n * p * (1 - p)
    return float(power / expected) if expected > 0 else float("nan")


def word_rate(seq: str, word: str) -> float:
    """Occurrences of ``word`` per kb, both strands (overlaps counted)."""
    rc = reverse_complement(as_codes(word)[0]).tobytes().decode("ascii")
    count = 0
    for target in {word, rc}:
        start = seq.find(target)
        while start >= 0:
            count += 1
            start = seq.find(target, start + 1)
    return 1000 * count / max(len(seq), 1)


__all__ = [
    "MEASURES",
    "SteeringResult",
    "annotated",
    "generate",
    "measure",
    "orf_lengths",
    "period3",
    "read_back",
    "steer",
    "word_rate",
]
