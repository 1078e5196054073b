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
from ._edit import FeatureEdit, check_spliceable, edit_function, scaled

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


@dataclass
class SteeringResult:
    """Generated sequences and their measures, one row per (strength, prompt)."""

    table: pd.DataFrame
    sequences: dict[tuple[float, int], str]

    def dose_response(self) -> pd.DataFrame:
        """Mean of every measure per strength (the dose-response)."""
        numeric = self.table.drop(columns=["prompt"]).groupby("strength").mean()
        return numeric.reset_index()


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
    """
    features = (features,) if isinstance(features, int | np.integer) else tuple(features)
    rows, sequences = [], {}
    for strength in tqdm(strengths, desc="steer", unit="strength", disable=not progress):
        edit = FeatureEdit(tuple(int(f) for f in features), mode, float(strength))
        if maxima is not None:
            edit = scaled(edit, maxima)
        outputs = generate(model, prompts, length, sae=sae, layer=layer, edit=edit, seed=seed)
        found = annotated(outputs, annotators) if annotators else [{} for _ in outputs]
        for p, seq in enumerate(outputs):
            sequences[(float(strength), p)] = seq
            row = {"strength": float(strength), "prompt": p, **measure(seq, words), **found[p]}
            rows.append(row)
    return SteeringResult(pd.DataFrame(rows), sequences)


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
    "SteeringResult",
    "annotated",
    "generate",
    "measure",
    "orf_lengths",
    "period3",
    "steer",
    "word_rate",
]
