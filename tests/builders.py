"""Small random models and genomes for tests (CPU, deterministic)."""

from __future__ import annotations

import numpy as np
import torch

import genointerp as gi
from genointerp.models import TinyAdapter, TinyConfig, TinyDNA


def random_tiny(d_model: int = 8, dilations=(1, 2, 4), seed: int = 0, name="random-tiny"):
    """A randomly initialised built-in model (receptive field 15 with the defaults)."""
    torch.manual_seed(seed)
    model = TinyDNA(TinyConfig(d_model=d_model, dilations=list(dilations), name=name))
    return TinyAdapter(model, model_id=f"tiny:{name}-{seed}", device="cpu")


def random_sequence(length: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("ACGT"), size=length))


def random_genome(lengths: dict[str, int], circular=(), seed: int = 0) -> gi.io.Genome:
    seqs = {name: random_sequence(n, seed + i) for i, (name, n) in enumerate(lengths.items())}
    return gi.io.Genome.from_sequences(seqs, circular=circular)


def whole_pass(adapter, seq: str, layer: str) -> np.ndarray:
    """The model's activations over a whole sequence in one forward: (len, d_model)."""
    return adapter.run(seq, [layer]).activations[layer][0].numpy()
