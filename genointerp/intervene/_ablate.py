"""Ablation effect: how much the model's loss rises at a concept's positions, and elsewhere,
when a feature (or a family) is set to zero, against features of the same density.

For windows of the genome (a random strand each), the model is run clean and with each
target ablated (:func:`~genointerp.intervene.ablate`, error term kept).  At every scored
position the loss is the model's surprise at the next nucleotide, in bits; the position
counts for a concept when that next nucleotide lies in the concept on the window's strand.
For each target and concept:

- ``delta_in`` and ``delta_out``: mean rise in bits at the concept's positions and at
  all other scored positions;
- ``selectivity`` = ``delta_in - delta_out``;
- the same for control features whose firing density (on these windows) is within a
  factor of two of the target's, drawn from a shared pool spread over densities; ``z`` and
  the empirical ``p`` = (1 + controls at or above the target) / (1 + controls) say whether
  the target's selectivity stands out from ablating just any feature that fires as often.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._atomic import atomic_open
from ..errors import GenointerpError
from ..models import N_INDEX, nucleotide_index, reverse_complement
from ..sae import SAE
from ._edit import ablate, check_spliceable, edit_function


@dataclass
class Windows:
    """Scored windows: model inputs (ASCII codes, model orientation), next-base targets
    and each scored position's concepts, all of the scored part only."""

    codes: list[np.ndarray] = field(default_factory=list)  # context + scored + 1 nucleotides
    targets: list[np.ndarray] = field(default_factory=list)  # (scored,) int, N_INDEX = left out
    masks: list[np.ndarray] = field(default_factory=list)  # (concepts, scored) bool
    where: list[str] = field(default_factory=list)  # contig:start-end(strand)
    context: int = 0


def sample_windows(
    genome,
    tracks,
    concepts: Sequence[str],
    *,
    positions: int,
    scored: int,
    context: int,
    seed: int = 0,
    regions: Sequence[tuple[str, int, int]] | None = None,
) -> Windows:
    """Random windows covering about ``positions`` scored nucleotides, each on a random
    strand, inside ``regions`` ((contig, start, end), default: every contig)."""
    length = context + scored + 1
    regions = regions or [(c, 0, n) for c, n in genome.lengths.items()]
    regions = [r for r in regions if r[2] - r[1] >= length]
    if not regions:
        raise GenointerpError(
            f"no region is {length:,} nt long (context {context:,} + {scored:,} scored + 1). "
            "Fix: pass a smaller scored length or longer regions"
        )
    rng = np.random.default_rng(seed)
    sizes = np.array([end - start - length + 1 for _, start, end in regions], dtype=float)
    out = Windows(context=context)
    for _ in range(max(1, math.ceil(positions / scored))):
        contig, lo, hi = regions[rng.choice(len(regions), p=sizes / sizes.sum())]
        start = int(rng.integers(lo, hi - length + 1))
        end = start + length
        strand = "+" if rng.random() < 0.5 else "-"
        codes = np.array(genome.codes(contig, start, end))
        mask = tracks.mask(contig, strand, start, end, concepts=concepts)
        if strand == "-":  # the model reads the reverse complement, 5' to 3'
            codes, mask = reverse_complement(codes), mask[:, ::-1]
        # scored position i predicts the base at i + 1
        out.codes.append(codes)
        out.targets.append(nucleotide_index(codes[context + 1 :]).astype(np.int64))
        out.masks.append(np.ascontiguousarray(mask[:, context + 1 :]))
        out.where.append(f"{contig}:{start}-{end}({strand})")
    return out


def next_base_bits(logits: torch.Tensor, targets: np.ndarray, context: int) -> np.ndarray:
    """Bits of surprise at each scored next nucleotide (NaN where it is N), from the logits
    ``(1, length, vocab)`` of the built-in model's vocabulary (ids 0-3 = A, C, G, T)."""
    scored = logits[0, context : context + len(targets)].detach().float().cpu()
    logp = F.log_softmax(scored, dim=-1)
    target = torch.as_tensor(targets)
    bits = -logp.gather(1, target.clamp_max(3)[:, None])[:, 0].numpy() / math.log(2)
    return np.where(targets == N_INDEX, np.nan, bits)


@dataclass
class AblationResult:
    """Per target and concept: the loss rises, selectivity and the density-matched control."""

    table: pd.DataFrame
    """One row per (target, concept)."""
    controls: pd.DataFrame
    """One row per (control feature, concept): the control pool's own scores."""
    positions: int
    """Scored positions (N targets left out)."""
    clean_bits: float
    """The clean model's mean bits per nucleotide on those positions."""

    def write(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in (("ablation.tsv", self.table), ("controls.tsv", self.controls)):
            with atomic_open(folder / name) as handle:
                frame.to_csv(handle, sep="\t", index=False, float_format="%.6g")
        return folder


def ablation_effect(
    model,
    sae: SAE,
    genome,
    tracks,
    layer: str,
    targets: Mapping[str, Sequence[int]] | Sequence[int],
    *,
    concepts: Sequence[str] | None = None,
    positions: int = 200_000,
    scored: int = 8192,
    controls: int = 24,
    regions: Sequence[tuple[str, int, int]] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> AblationResult:
    """Ablate each target (a feature, or a named group of features such as a family) and
    measure the loss rise at each concept's positions and elsewhere; see the module doc.

    Parameters
    ----------
    model
        The SAE's model (built-in model: its logits are read as A, C, G, T).
    targets
        Features, or ``{name: features}`` for groups ablated together.
    positions, scored
        About ``positions`` scored nucleotides, in windows of ``scored`` after the
        model's default context.
    controls
        Size of the pool of control features (single features spread over densities).
    regions
        ``(contig, start, end)`` to draw windows from (e.g. held-out blocks).
    """
    check_spliceable(layer)
    if not model.acgt_logits:
        raise GenointerpError(
            "the ablation effect scores next-nucleotide logits in the built-in model's "
            f"vocabulary; {model.model_id!r} has its own token ids, not mapped yet. "
            "Fix: use the built-in model"
        )
    if not isinstance(targets, Mapping):
        targets = {str(int(f)): [int(f)] for f in targets}
    concepts = list(concepts or tracks.concepts)
    sae = sae.to(model.device).eval()
    windows = sample_windows(
        genome,
        tracks,
        concepts,
        positions=positions,
        scored=scored,
        context=model.default_min_context,
        seed=seed,
        regions=regions,
    )
    clean, density = _clean_pass(model, sae, layer, windows)
    pool = control_pool(density, controls, exclude=[f for fs in targets.values() for f in fs])
    edits = {name: list(map(int, fs)) for name, fs in targets.items()}
    edits.update({f"control:{f}": [int(f)] for f in pool})
    sums = {}
    bar = tqdm(edits.items(), desc="ablate", unit="edit", disable=not progress)
    for name, features in bar:
        sums[name] = _rise(model, sae, layer, windows, clean, features)
    scored_mask = np.concatenate([~np.isnan(b) for b in clean], axis=0)
    rows, control_rows = [], []
    for name, (inside, outside, n_in, n_out) in sums.items():
        for c, concept in enumerate(concepts):
            row = {
                "concept": concept,
                "positions": int(n_in[c]),
                "delta_in": inside[c] / n_in[c] if n_in[c] else np.nan,
                "delta_out": outside[c] / n_out[c] if n_out[c] else np.nan,
            }
            row["selectivity"] = row["delta_in"] - row["delta_out"]
            if name.startswith("control:"):
                feature = int(name.split(":")[1])
                control_rows.append({"feature": feature, "density": density[feature], **row})
            else:
                features = edits[name]
                row = {
                    "target": name,
                    "features": ",".join(map(str, features)),
                    "density": float(density[features].sum()),
                    **row,
                }
                rows.append(row)
    table = pd.DataFrame(rows)
    control_table = pd.DataFrame(control_rows)
    table = _compare_to_controls(table, control_table)
    bits = np.concatenate(clean)[scored_mask]
    return AblationResult(table, control_table, int(scored_mask.sum()), float(bits.mean()))


@torch.no_grad()
def _clean_pass(model, sae: SAE, layer: str, windows: Windows):
    """Clean bits per window, and each feature's firing density over the scored positions."""
    bits, fired, count = [], torch.zeros(sae.d_sae), 0
    seen: list[torch.Tensor] = []

    def keep(x: torch.Tensor) -> torch.Tensor:  # the layer's output, left as it is
        seen[:] = [x]
        return x

    for codes, targets in zip(windows.codes, windows.targets, strict=True):
        logits = model.splice(codes[None], layer, keep)  # one pass: logits and the layer
        bits.append(next_base_bits(logits, targets, windows.context))
        acts = seen[0][0, windows.context : windows.context + len(targets)]
        fired += (sae.encode(acts.float()) > 0).sum(0).float().cpu()
        count += len(targets)
    return bits, (fired / max(count, 1)).numpy()


@torch.no_grad()
def _rise(model, sae, layer, windows: Windows, clean, features):
    """Sums of the loss rise inside and outside each concept, and their position counts."""
    n = windows.masks[0].shape[0]
    inside, outside = np.zeros(n), np.zeros(n)
    n_in, n_out = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    edit = edit_function(sae, ablate(features))
    for codes, targets, mask, base in zip(
        windows.codes, windows.targets, windows.masks, clean, strict=True
    ):
        logits = model.splice(codes[None], layer, edit)
        rise = next_base_bits(logits, targets, windows.context) - base
        valid = ~np.isnan(rise)
        rise = np.where(valid, rise, 0.0)
        inside += mask @ rise
        outside += (~mask & valid) @ rise
        n_in += (mask & valid).sum(1)
        n_out += (~mask & valid).sum(1)
    return inside, outside, n_in, n_out


def control_pool(density: np.ndarray, size: int, exclude: Sequence[int], seed: int = 0):
    """``size`` alive features spread evenly over log density (one per quantile bin)."""
    alive = np.flatnonzero(density > 0)
    alive = np.setdiff1d(alive, np.asarray(exclude, dtype=np.int64))
    if len(alive) <= size:
        return alive
    rng = np.random.default_rng(seed)
    order = alive[np.argsort(density[alive], kind="stable")]
    bins = np.array_split(order, size)
    return np.sort([int(rng.choice(b)) for b in bins])


def _compare_to_controls(table: pd.DataFrame, controls: pd.DataFrame, min_controls: int = 5):
    """Per target row: the controls within a factor 2 of its density (at least the
    ``min_controls`` nearest), their selectivity's mean and sd, z and empirical p."""
    means, sds, zs, ps, ns = [], [], [], [], []
    if controls.empty:  # every alive feature is a target: nothing to compare with
        controls = pd.DataFrame(columns=["concept", "density", "selectivity"])
    for row in table.itertuples():
        pool = controls[controls["concept"] == row.concept].dropna(subset=["selectivity"])
        if pool.empty:
            means.append(np.nan), sds.append(np.nan), zs.append(np.nan)
            ps.append(np.nan), ns.append(0)
            continue
        gap = np.abs(np.log(pool["density"].to_numpy()) - np.log(max(row.density, 1e-12)))
        near = pool[gap <= math.log(2)]
        if len(near) < min_controls:
            near = pool.iloc[np.argsort(gap, kind="stable")[:min_controls]]
        values = near["selectivity"].to_numpy()
        mean, sd = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
        means.append(mean)
        sds.append(sd)
        zs.append((row.selectivity - mean) / sd if sd > 0 else np.nan)
        ps.append((1 + int((values >= row.selectivity).sum())) / (1 + len(values)))
        ns.append(len(values))
    return table.assign(control_mean=means, control_sd=sds, z=zs, p_value=ps, n_controls=ns)


__all__ = ["AblationResult", "ablation_effect", "control_pool", "next_base_bits"]
