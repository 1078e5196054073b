"""Ablation effect: how much the model's loss rises at a concept's positions, and elsewhere,
when a feature (or a family) is set to zero, against controls of the same density.

For windows of the genome (a random strand each), the model is run clean and with each
target ablated (:func:`~genointerp.intervene.ablate`, error term kept).  At every scored
position the loss is the model's surprise at the next nucleotide, in bits; the position
counts for a concept when that next nucleotide lies in the concept on the window's strand.
For each target and concept:

- ``delta_in`` and ``delta_out``: mean rise in bits at the concept's positions and at
  all other scored positions;
- ``selectivity`` = ``delta_in - delta_out``;
- the same for controls, and ``z`` and the empirical ``p`` = (1 + controls at or above
  the target) / (1 + controls): does the target's selectivity stand out from ablating
  just any features that fire as often?  The ``control`` column says which control:

  - a single feature is compared with ``"density-matched features"``: control features
    whose firing density (on these windows) is within a factor of two of the target's,
    drawn from a shared pool spread over densities;
  - a group of features (a family) is compared with ``"density-matched groups"``: random
    groups of the same size, each member drawn among the features within a factor of
    two of the density of the group member it stands for (:func:`control_groups`), each
    group ablated together like the target.  Ablating six features removes more than
    ablating one feature of their summed density, so a group is never compared with
    single features.
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
from ._edit import ablate, check_spliceable, edit_function, logits_and_layer


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


FEATURES_CONTROL = "density-matched features"
GROUPS_CONTROL = "density-matched groups"
_SCORES = ["concept", "positions", "delta_in", "delta_out", "selectivity"]


@dataclass
class AblationResult:
    """Per target and concept: the loss rises, selectivity and the density-matched control."""

    table: pd.DataFrame
    """One row per (target, concept); ``control`` says which control its ``z`` and
    ``p_value`` come from, ``densities`` its features' firing densities."""
    controls: pd.DataFrame
    """One row per (control feature, concept): the single-feature pool's own scores."""
    positions: int
    """Scored positions (N targets left out)."""
    clean_bits: float
    """The clean model's mean bits per nucleotide on those positions."""
    group_controls: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["target", "group", "features", "densities"])
    )
    """One row per (control group, concept): the ``target`` group it stands in for, its
    ``features`` and their ``densities`` (in the order of the target's members)."""

    def write(self, folder: str | Path) -> Path:
        """``ablation.tsv``, ``controls.tsv`` and ``group_controls.tsv``, each written
        atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in (
            ("ablation.tsv", self.table),
            ("controls.tsv", self.controls),
            ("group_controls.tsv", self.group_controls),
        ):
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
    group_controls: int = 8,
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
        Features, or ``{name: features}`` for groups ablated together.  A group of one
        feature counts as a single feature.
    positions, scored
        About ``positions`` scored nucleotides, in windows of ``scored`` after the
        model's default context.
    controls
        Size of the pool of control features (single features spread over densities),
        the control of single-feature targets; drawn only when there is one.
    group_controls
        Random control groups per group target (each one more ablation pass): groups of
        the target's size whose members match its members' densities within a factor of
        two (:func:`control_groups`).  Control features are never target features.
    regions
        ``(contig, start, end)`` to draw windows from (e.g. held-out blocks).
    seed
        Seeds the windows and the controls.

    Returns
    -------
    AblationResult
        ``table`` has one row per (target, concept): ``target``, ``features``,
        ``densities``, ``density`` (their sum), ``concept``, ``positions``, ``delta_in``,
        ``delta_out``, ``selectivity``, ``control``, ``control_mean``, ``control_sd``,
        ``z``, ``p_value``, ``n_controls``.

    Examples
    --------
    >>> found = gi.intervene.ablation_effect(  # doctest: +SKIP
    ...     model, sae, genome, tracks, "blocks.5", {"codon family": [1018, 140, 77]}
    ... )
    >>> found.table.query("concept == 'cds'")[["selectivity", "control", "z"]]  # doctest: +SKIP
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
    groups = {name: list(dict.fromkeys(map(int, fs))) for name, fs in targets.items()}
    empty = [name for name, fs in groups.items() if not fs]
    if not groups or empty:
        raise GenointerpError(
            f"nothing to ablate: targets without features {empty}, or no targets at all. "
            "Fix: give at least one target, each with at least one feature"
        )
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
    edits = _plan(groups, density, controls, group_controls, seed)
    scores = {}
    bar = tqdm(edits.items(), desc="ablate", unit="edit", disable=not progress)
    for key, features in bar:
        scores[key] = _scores(_rise(model, sae, layer, windows, clean, features), concepts)
    tables = _tables(edits, scores, density)
    scored_mask = np.concatenate([~np.isnan(b) for b in clean], axis=0)
    bits = np.concatenate(clean)[scored_mask]
    table = _compare_to_controls(tables["target"], tables["feature"], tables["group"])
    return AblationResult(
        table,
        tables["feature"],
        int(scored_mask.sum()),
        float(bits.mean()),
        tables["group"],
    )


def _plan(groups, density, controls: int, group_controls: int, seed: int):
    """Every ablation pass: ``{(kind, name, index): features}`` for the targets
    (``"target"``), the single control pool (``"feature"``) and the control groups of
    each group target (``"group"``)."""
    taken = sorted({f for fs in groups.values() for f in fs})
    edits = {("target", name, 0): fs for name, fs in groups.items()}
    if any(len(fs) == 1 for fs in groups.values()):
        for f in control_pool(density, controls, exclude=taken, seed=seed):
            edits[("feature", str(int(f)), 0)] = [int(f)]
    for i, (name, fs) in enumerate(groups.items()):
        if len(fs) > 1:
            drawn = control_groups(density, fs, group_controls, exclude=taken, seed=(seed, i))
            for g, members in enumerate(drawn):
                edits[("group", name, g)] = members
    return edits


def _scores(sums, concepts: Sequence[str]) -> list[dict]:
    """Per concept: scored positions inside, mean rise inside and outside, selectivity."""
    inside, outside, n_in, n_out = sums
    rows = []
    for c, concept in enumerate(concepts):
        row = {
            "concept": concept,
            "positions": int(n_in[c]),
            "delta_in": inside[c] / n_in[c] if n_in[c] else np.nan,
            "delta_out": outside[c] / n_out[c] if n_out[c] else np.nan,
        }
        row["selectivity"] = row["delta_in"] - row["delta_out"]
        rows.append(row)
    return rows


def _tables(edits, scores, density: np.ndarray) -> dict[str, pd.DataFrame]:
    """The targets', control features' and control groups' rows, one per concept."""
    rows: dict[str, list[dict]] = {"target": [], "feature": [], "group": []}
    for (kind, name, index), features in edits.items():
        about = {
            "features": ",".join(map(str, features)),
            "densities": ",".join(f"{density[f]:.6g}" for f in features),
            "density": float(density[features].sum()),
        }
        if kind == "target":
            control = GROUPS_CONTROL if len(features) > 1 else FEATURES_CONTROL
            about = {"target": name, **about, "control": control}
        elif kind == "feature":
            about = {"feature": features[0], "density": about["density"]}
        else:
            about = {"target": name, "group": index, **about}
        rows[kind].extend({**about, **score} for score in scores[(kind, name, index)])
    columns = {
        "target": ["target", "features", "densities", "density", "control", *_SCORES],
        "feature": ["feature", "density", *_SCORES],
        "group": ["target", "group", "features", "densities", "density", *_SCORES],
    }
    return {kind: pd.DataFrame(rows[kind], columns=columns[kind]) for kind in rows}


@torch.no_grad()
def _clean_pass(model, sae: SAE, layer: str, windows: Windows):
    """Clean bits per window, and each feature's firing density over the scored positions."""
    bits, fired, count = [], torch.zeros(sae.d_sae), 0
    for codes, targets in zip(windows.codes, windows.targets, strict=True):
        logits, layer_out = logits_and_layer(model, codes[None], layer)
        bits.append(next_base_bits(logits, targets, windows.context))
        acts = layer_out[0, windows.context : windows.context + len(targets)]
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


def control_groups(
    density: np.ndarray,
    members: Sequence[int],
    count: int,
    exclude: Sequence[int] = (),
    seed: int | Sequence[int] = 0,
    nearest: int = 5,
) -> list[list[int]]:
    """Up to ``count`` distinct random groups of ``len(members)`` alive features that stand
    in for ``members``.

    Member ``i`` of a group is drawn among the alive features (``density > 0``), not in
    ``exclude`` and not already in the group, whose density is within a factor of two of
    ``density[members[i]]``; when fewer than ``nearest`` qualify, among the ``nearest``
    closest by log density.  Fewer groups come back when too few features are alive.

    Parameters
    ----------
    density
        Firing density of every feature, ``(d_sae,)``.
    members
        The target group's features.
    count
        How many control groups.
    exclude
        Features never drawn (every target's features).
    seed
        Seeds the draw (an int or a sequence of ints, as :func:`numpy.random.default_rng`).

    Returns
    -------
    list of list of int
        Each group's features, member ``i`` standing for ``members[i]``.

    Examples
    --------
    >>> density = np.array([0.1, 0.4] + [0.08, 0.12, 0.1, 0.15, 0.06] + [0.3, 0.5, 0.4, 0.6, 0.7])
    >>> control_groups(density, [0, 1], 3, exclude=[0, 1])  # 2-6 match 0.1, 7-11 match 0.4
    [[6, 10], [4, 8], [3, 7]]
    """
    alive = np.setdiff1d(np.flatnonzero(density > 0), np.asarray(exclude, dtype=np.int64))
    if len(alive) < len(members):
        return []
    logs = np.log(density[alive])
    choices = []
    for m in members:
        gap = np.abs(logs - math.log(max(float(density[m]), 1e-12)))
        near = np.flatnonzero(gap <= math.log(2) + 1e-9)
        choices.append(near if len(near) >= nearest else np.argsort(gap, kind="stable")[:nearest])
    rng = np.random.default_rng(seed)
    found: dict[frozenset, list[int]] = {}
    for _ in range(20 * count):  # draws that repeat a group or run out are tried again
        if len(found) == count:
            break
        group: list[int] = []
        for near in choices:
            free = near[~np.isin(alive[near], group)]
            if not len(free):
                break
            group.append(int(alive[rng.choice(free)]))
        if len(group) == len(members):
            found.setdefault(frozenset(group), group)
    return list(found.values())


def _compare_to_controls(
    table: pd.DataFrame, controls: pd.DataFrame, groups: pd.DataFrame, min_controls: int = 5
) -> pd.DataFrame:
    """Per target row, its controls' selectivity mean and sd, z and empirical p: a group
    target's own control groups; a single feature's control features within a factor 2 of
    its density (at least the ``min_controls`` nearest)."""
    stats = []
    for row in table.itertuples():
        if row.control == GROUPS_CONTROL:
            mine = groups[(groups["target"] == row.target) & (groups["concept"] == row.concept)]
            values = mine["selectivity"].dropna().to_numpy()
        else:
            values = _matched_features(controls, row.concept, row.density, min_controls)
        stats.append(_against(values, row.selectivity))
    names = ["control_mean", "control_sd", "z", "p_value", "n_controls"]
    return table.assign(**pd.DataFrame(stats, columns=names, index=table.index))


def _matched_features(controls: pd.DataFrame, concept: str, density: float, least: int):
    """Selectivities of the control features within a factor 2 of ``density`` at
    ``concept`` (at least the ``least`` nearest)."""
    pool = controls[controls["concept"] == concept].dropna(subset=["selectivity"])
    if pool.empty:
        return np.array([])
    gap = np.abs(np.log(pool["density"].to_numpy(float)) - np.log(max(density, 1e-12)))
    near = pool[gap <= math.log(2)]
    if len(near) < least:
        near = pool.iloc[np.argsort(gap, kind="stable")[:least]]
    return near["selectivity"].to_numpy()


def _against(values: np.ndarray, selectivity: float):
    """Mean, sd, z and empirical p of ``selectivity`` against control ``values``, and
    their number; z and p are NaN when the target has no selectivity (no positions)."""
    if len(values) == 0:
        return np.nan, np.nan, np.nan, np.nan, 0
    mean, sd = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
    if np.isnan(selectivity):
        return mean, sd, np.nan, np.nan, len(values)
    z = (selectivity - mean) / sd if sd > 0 else np.nan
    p = (1 + int((values >= selectivity).sum())) / (1 + len(values))
    return mean, sd, z, p, len(values)


__all__ = [
    "AblationResult",
    "ablation_effect",
    "control_groups",
    "control_pool",
    "next_base_bits",
]
