"""Linear-probe baseline: one logistic regression per concept on the raw activations."""

from __future__ import annotations

import numpy as np
import torch

from ._sources import StoreSource

MAX_TRAIN = 400_000  # validation positions used to fit (a random subset, both strands)


def probe(
    store, layer: str, tracks, split, *, concepts=None, steps: int = 300, seed: int = 0
) -> StoreSource:
    """Fit a logistic regression per concept on validation positions of ``store``.

    All concepts are fitted jointly as independent outputs of one linear layer (the
    loss separates), with full-batch L-BFGS on standardised activations and positives
    weighted to balance each concept.  Returns a feature source whose feature ``c`` is
    the probability of concept ``c``, to align like any other source.
    """
    concepts = list(tracks.concepts if concepts is None else concepts)
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    total = sum(store.contigs.values()) * len(store.strands)
    for contig, length in store.contigs.items():
        in_val = np.flatnonzero(split.ids(contig, length) == 0)
        n = min(len(in_val), max(1, MAX_TRAIN * length // total))
        take = np.sort(rng.choice(in_val, n, replace=False))
        for strand in store.strands:
            x = store.read(layer, contig, strand)[take]
            xs.append(x.astype(np.float32))
            ys.append(tracks.mask(contig, strand, 0, length, concepts)[:, take].T)
    x = torch.from_numpy(np.concatenate(xs))
    y = torch.from_numpy(np.concatenate(ys).astype(np.float32))
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    pos = y.mean(0).clamp(min=1e-6)
    weight = ((1 - pos) / pos).clamp(max=1e4)
    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.shape[1], len(concepts))
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe")
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)

    def closure():
        opt.zero_grad()
        loss = loss_fn(linear(z), y) + 1e-4 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w = (linear.weight.detach() / std).T.numpy()
    b = (linear.bias.detach() - (linear.weight.detach() / std) @ mean).numpy()

    def predict(rows: np.ndarray) -> np.ndarray:
        return (1 / (1 + np.exp(-(rows @ w + b)))).astype(np.float32)

    source = StoreSource(store, layer, predict, len(concepts))
    source.concepts = concepts
    return source
