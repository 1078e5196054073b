"""``genointerp sae eval``: score a saved SAE on an activation store and inside its model."""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..acts import JOINT_SUFFIX, ActivationStore
from ..errors import GenointerpError
from ..models._base import N_INDEX, nucleotide_index, reverse_complement
from ._arch import SAE
from ._data import ActivationBatches, first_rows
from ._io import Provenance, check_compatible, load_sae
from ._metrics import LossRecovered, SAEMetrics, measure

log = logging.getLogger(__name__)


@torch.no_grad()
def loss_recovered(
    sae: SAE,
    model,
    genome,
    layer: str,
    *,
    windows: int = 16,
    scored: int = 4096,
    seed: int = 0,
) -> LossRecovered:
    """The model's loss with ``sae``'s reconstruction spliced in at ``layer``, clean and zeroed.

    Scores ``windows`` random windows (either strand) of ``scored`` nucleotides, each
    preceded by the model's default context so every scored position sees a full one.
    Positions whose next nucleotide is N are left out.  A joint strand view
    (``blocks.5+rc``) reads two passes, so it cannot be spliced into one: refused.
    """
    check_spliceable(layer)
    if not model.causal:
        raise GenointerpError(
            "loss recovered is defined here for causal models (next-nucleotide loss). "
            f"Fix: skip it for {model.model_id!r}"
        )
    if not model.acgt_logits:  # the scoring below reads logits 0-3 as A, C, G, T
        raise GenointerpError(
            f"loss recovered scores next-nucleotide logits in the built-in model's vocabulary "
            f"(ids 0-3 = A, C, G, T); {model.model_id!r} ({model.name} adapter) has its own "
            "token ids, which are not mapped yet. Fix: leave loss recovered out for this SAE "
            "(loss_windows: 0; no --dataset/--genome for sae eval)"
        )
    context = model.default_min_context
    sae = copy.deepcopy(sae).to(model.device).eval()  # the caller's SAE stays where it was

    def reconstruct(acts: torch.Tensor) -> torch.Tensor:  # (batch, pos, d) -> same
        flat = acts.reshape(-1, acts.shape[-1]).float()
        with torch.autocast(acts.device.type, enabled=False):  # the SAE in float32
            return sae.decode(sae.encode(flat)).reshape(acts.shape)

    totals = {"clean": 0.0, "spliced": 0.0, "zero": 0.0}
    count = 0
    for codes in _sample_windows(genome, windows, context + scored + 1, seed):
        targets = torch.as_tensor(nucleotide_index(codes[1:]).astype(np.int64))
        keep = targets[context:] != N_INDEX
        batch = codes[None]
        runs = {
            "clean": model.forward(batch, []).logits,
            "spliced": model.splice(batch, layer, reconstruct),
            "zero": model.splice(batch, layer, torch.zeros_like),
        }
        for name, logits in runs.items():
            nats = F.cross_entropy(
                logits[0, :-1].float().cpu(), targets.clamp_max(3), reduction="none"
            )
            totals[name] += float(nats[context:][keep].sum())
        count += int(keep.sum())
    bits = {name: total / max(count, 1) / math.log(2) for name, total in totals.items()}
    return LossRecovered(bits["clean"], bits["spliced"], bits["zero"], count)


def check_spliceable(layer: str) -> None:
    """Refuse loss recovered for a joint strand view: its input comes from two passes."""
    if ActivationStore.is_joint(layer):
        raise GenointerpError(
            f"layer {layer!r} is a joint strand view (two forward passes, own strand then "
            "reverse complement), so its reconstruction cannot be spliced into one pass to "
            "measure loss recovered. Fix: leave loss recovered out for this SAE "
            "(loss_windows: 0; no --dataset/--genome for sae eval), or train on the plain layer "
            f"{layer.removesuffix(JOINT_SUFFIX)!r}"
        )


def _sample_windows(genome, n: int, length: int, seed: int):
    """``n`` random windows of ``length`` nucleotides (ASCII codes), on a random strand."""
    rng = np.random.default_rng(seed)
    lengths = {name: size for name, size in genome.lengths.items() if size >= length}
    if not lengths:
        raise GenointerpError(
            f"no contig of the genome is {length} nt long. Fix: pass a smaller scored length"
        )
    names = list(lengths)
    weights = np.array([lengths[name] for name in names], dtype=float)
    for _ in range(n):
        name = names[rng.choice(len(names), p=weights / weights.sum())]
        start = int(rng.integers(0, lengths[name] - length + 1))
        codes = genome.codes(name, start, start + length)
        yield reverse_complement(codes) if rng.random() < 0.5 else codes


def evaluate_sae(
    sae: SAE | str | Path,
    store: ActivationStore | str | Path,
    *,
    provenance: Provenance | None = None,
    positions: int = 1_000_000,
    held_out_only: bool = True,
    model=None,
    genome=None,
    windows: int = 16,
) -> SAEMetrics:
    """FVU, L0, dead and dense fractions on a store; loss recovered when given a model.

    Parameters
    ----------
    sae
        An SAE, or a directory written by ``sae train`` / ``sae import``.
    store
        Activation store of the SAE's model and layer (checked against its provenance).
    positions
        At most this many positions are scored.
    held_out_only
        Score the chunks training held out (its seed and ``eval_fraction`` are in the
        provenance); otherwise, or when none were, score the store from its start.
    model, genome
        An adapter and the genome of the store: adds loss recovered over ``windows``
        random windows.
    """
    if not isinstance(sae, SAE):
        sae, provenance = load_sae(sae)
    if not isinstance(store, ActivationStore):
        store = ActivationStore(store)
    layer = provenance.layer if provenance and provenance.layer else store.layers[0]
    if provenance is not None:
        check_compatible(provenance, store.model_id, layer, str(store.path))
    width = store.width(layer)
    if sae.d_in != width:
        raise GenointerpError(
            f"{store.path}: {layer!r} has width {width}, the SAE reads {sae.d_in}. "
            "Fix: use the store the SAE was trained on"
        )
    seed = provenance.seed if provenance else 0
    fraction = provenance.eval_fraction if provenance and held_out_only else 0.0
    batches = ActivationBatches(store, layer, 1, seed=seed, eval_fraction=fraction)
    held_out = fraction > 0
    rows = batches.eval_rows(positions) if held_out else first_rows(store, layer, positions)
    metrics = measure(sae.eval(), rows)
    if model is not None:
        check_spliceable(layer)
        if genome is None:
            raise GenointerpError("loss recovered needs the genome too. Fix: pass genome=...")
        if provenance is not None:
            check_compatible(provenance, model.model_id, layer, "the model")
        if genome.checksum != store.genome_checksum:
            raise GenointerpError(
                f"{store.path}: extracted from genome {store.genome_checksum}, not the one given "
                f"({genome.checksum}). Fix: pass the store's genome"
            )
        metrics.loss = loss_recovered(sae, model, genome, layer, windows=windows, seed=seed)
    return metrics


__all__ = ["evaluate_sae", "loss_recovered"]
