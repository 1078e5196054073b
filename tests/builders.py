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


def store_from_rows(path, rows: np.ndarray, model_id: str = "tiny:synthetic", layer="blocks.0"):
    """A real activation store (float32, '+' strand) holding ``rows`` (n, d) as one contig.

    Written with the store's own writer functions, so SAE training reads it exactly as it
    reads an extracted store.
    """
    from genointerp.acts import ActivationStore, WindowSpec, plan_windows
    from genointerp.acts._store import create_store

    n, d_model = rows.shape
    genome = random_genome({"synthetic": n}, seed=n)
    spec = WindowSpec(window=max(n, 16), overlap=0, min_context=0)
    plan = plan_windows([n], spec, strands=("+",), batch_size=1)
    info = {"adapter": "tiny", "model_id": model_id, "causal": True, "d_model": d_model}
    create_store(
        path,
        genome=genome,
        model_info=info,
        layers=[layer],
        spec=spec,
        strands=["+"],
        plan=plan,
        dtype="float32",
    )
    with ActivationStore(path, "r+") as store:
        store.dataset(layer, "synthetic", "+")[:] = rows
        for batch in range(len(store.done)):
            store.mark_done(batch)
    return path


def store_from_strands(
    path,
    plus: np.ndarray,
    minus: np.ndarray,
    model_id: str = "tiny:synthetic",
    layers=("blocks.0",),
):
    """A real activation store (float32, both strands) of one contig: '+' holds ``plus``,
    '-' holds ``minus`` (each (n, d)), at every layer of ``layers``.

    Written with the store's own writer functions, like :func:`store_from_rows`.
    """
    from genointerp.acts import ActivationStore, WindowSpec, plan_windows
    from genointerp.acts._store import create_store

    if plus.shape != minus.shape:
        raise ValueError(f"plus {plus.shape} and minus {minus.shape} differ in shape")
    n, d_model = plus.shape
    genome = random_genome({"synthetic": n}, seed=n)
    spec = WindowSpec(window=max(n, 16), overlap=0, min_context=0)
    plan = plan_windows([n], spec, strands=("+", "-"), batch_size=1)
    info = {"adapter": "tiny", "model_id": model_id, "causal": True, "d_model": d_model}
    create_store(
        path,
        genome=genome,
        model_info=info,
        layers=list(layers),
        spec=spec,
        strands=["+", "-"],
        plan=plan,
        dtype="float32",
    )
    with ActivationStore(path, "r+") as store:
        for layer in layers:
            store.dataset(layer, "synthetic", "+")[:] = plus
            store.dataset(layer, "synthetic", "-")[:] = minus
        for batch in range(len(store.done)):
            store.mark_done(batch)
    return path


def planted_dictionary(n: int, d_in: int = 32, n_atoms: int = 64, active: int = 3, seed: int = 0):
    """Rows that are sparse non-negative sums of known unit-norm atoms.

    Returns ``(rows (n, d_in) float32, atoms (n_atoms, d_in))``; each row uses ``active``
    atoms with coefficients uniform in [0.5, 1.5].
    """
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((n_atoms, d_in))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    chosen = np.argsort(rng.random((n, n_atoms)), axis=1)[:, :active]  # (n, active)
    coefficients = rng.uniform(0.5, 1.5, size=(n, active))
    rows = np.einsum("na,nad->nd", coefficients, atoms[chosen])
    return rows.astype(np.float32), atoms
