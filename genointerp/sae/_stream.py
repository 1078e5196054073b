"""Streaming SAE training: the model's activations go straight into the shuffle buffer.

With ``data.source: model`` no activation store is written.  The genomes are cut
into model windows exactly as ``genointerp extract`` would cut them; each genome's
windows are split once into training and held-out windows (by the seed); the
training windows of all genomes form the endless stream of
:class:`~genointerp.sae.ShuffledStream` (each epoch in a fresh order), and the fill
that the shuffle buffer needs is computed by running the model over the windows
that cover it.  The batch of step ``s`` therefore still depends only on the seed and
``s``, so a preempted job resumes to the weights of one that never stopped, and
disk use is the checkpoint alone, whatever the number of positions.

Windows are run ``windows_per_forward`` at a time, in fixed blocks of each epoch's
order (never grouped by where a fill starts), so a resumed job batches them the same
way.  Each epoch runs the model again over every window: streaming trades compute
for disk (see ``docs/hpc.md``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from itertools import zip_longest

import numpy as np
import torch

from ..acts import (
    ActivationStore,
    WindowSpec,
    forward_windows,
    plan_genome,
    resolve_genome,
    window_spec,
)
from ..errors import GenointerpError
from ._data import DataSource, ShuffledStream, data_checksum, held_out_split

CACHED_BLOCKS = 2  # forward blocks kept: a window at a fill's edge is run once, not twice


class ModelBatches(ShuffledStream):
    """Deterministic, shuffled batches of a model's activations, computed as needed.

    Parameters
    ----------
    model
        An adapter from :func:`genointerp.models.load_model` (on the training device).
    genomes
        :class:`~genointerp.io.Genome` objects, mixed in proportion to their positions.
    layer
        The model's layer to train on.
    spec
        Window settings (:func:`genointerp.acts.window_spec` gives the model's defaults).
    strands
        ``"+"`` and/or ``"-"``.
    windows_per_forward
        Windows per forward pass (0: ``model.default_batch_size``).
    batch_size, buffer_batches, seed, eval_fraction, rank, world
        As for :class:`~genointerp.sae.ActivationBatches`; ``eval_fraction`` holds out
        that fraction of each genome's windows.

    Examples
    --------
    >>> model = gi.models.load_model("tiny")                              # doctest: +SKIP
    >>> genome = gi.datasets.load("ecoli_k12").genome()                   # doctest: +SKIP
    >>> spec = gi.acts.window_spec(model)                                 # doctest: +SKIP
    >>> batches = ModelBatches(model, [genome], "blocks.5", spec, "+-", 0, 4096)  # doctest: +SKIP
    >>> batches.batch(0).shape                                            # doctest: +SKIP
    torch.Size([4096, 96])
    """

    def __init__(
        self,
        model,
        genomes: Sequence,
        layer: str,
        spec: WindowSpec,
        strands: Sequence[str],
        windows_per_forward: int,
        batch_size: int,
        buffer_batches: int = 32,
        seed: int = 0,
        eval_fraction: float = 0.02,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.model, self.genomes = model, list(genomes)
        self.layer = model.check_layers(layer)[0]
        self.per_forward = windows_per_forward or model.default_batch_size
        train, held_out = [], []
        for index, genome in enumerate(self.genomes):
            windows, evaluate = _split_windows(genome, spec, strands, seed, eval_fraction)
            train.append((windows, np.full(len(windows), index)))
            held_out.append([(index, row) for row in evaluate])
        self.train_windows = np.concatenate([w for w, _ in train])
        self.train_genome = np.concatenate([g for _, g in train])
        # Round robin over the genomes, so a capped evaluation samples every genome.
        self.eval_windows = [w for group in zip_longest(*held_out) for w in group if w]
        sizes = self.train_windows["keep_end"] - self.train_windows["keep_start"]
        super().__init__(sizes, batch_size, buffer_batches, seed, rank, world)
        self._lock = threading.Lock()  # the model runs in one thread at a time
        self._blocks: OrderedDict[tuple[int, int], list[np.ndarray]] = OrderedDict()

    def _piece(self, unit: int, lo: int, hi: int, epoch: int, position: int) -> np.ndarray:
        block, within = divmod(position, self.per_forward)
        return self._block(epoch, block)[within][lo:hi]

    def _block(self, epoch: int, block: int) -> list[np.ndarray]:
        """Kept rows of the windows at positions ``[block * W, (block + 1) * W)`` of
        ``epoch``'s order (W = windows per forward), one array per window."""
        with self._lock:
            key = (epoch, block)
            if key not in self._blocks:
                order, _ = self.epoch_order(epoch)
                ids = order[block * self.per_forward : (block + 1) * self.per_forward]
                self._blocks[key] = self._forward(self.train_windows[ids], self.train_genome[ids])
                while len(self._blocks) > CACHED_BLOCKS:
                    self._blocks.popitem(last=False)
            return self._blocks[key]

    def _forward(self, windows: np.ndarray, genome_of: np.ndarray) -> list[np.ndarray]:
        """Kept rows of each window, (keep, d_model) float32, in the order given."""
        out: list[np.ndarray] = [np.empty(0)] * len(windows)
        for index in np.unique(genome_of):  # one forward per genome and window length
            for length in np.unique(windows["length"][genome_of == index]):
                members = np.flatnonzero((genome_of == index) & (windows["length"] == length))
                output = forward_windows(
                    self.model, self.genomes[index], windows[members], [self.layer]
                )
                acts = output.activations[self.layer].to("cpu", torch.float32).numpy()
                for row, member in zip(acts, members, strict=True):  # row: (length, d_model)
                    window = windows[member]
                    lo = int(window["keep_start"] - window["start"])
                    out[member] = row[lo : lo + int(window["keep_end"] - window["keep_start"])]
        return out

    def eval_rows(self, max_rows: int | None = None) -> np.ndarray:
        """Held-out rows (windows never trained on), at most ``max_rows``: float32."""
        parts, total = [], 0
        for index, window in self.eval_windows:
            if max_rows is not None and total >= max_rows:
                break
            with self._lock:
                parts += self._forward(window[None], np.array([index]))
            total += len(parts[-1])
        rows = np.concatenate(parts) if parts else np.zeros((0, self.model.d_model))
        return rows[:max_rows].astype(np.float32)


def open_stream(config, device, rank: int = 0, world: int = 1):
    """Batches and :class:`DataSource` of a :class:`SAETrainConfig` with ``source: model``.

    Loads ``stream.model`` on ``device`` and the genomes; the layer is ``data.layer`` or
    the model's default layer.
    """
    from ..models import load_model

    data, stream = config.data, config.data.stream
    model = load_model(
        stream.model, stream.weights or None, device=device, dtype=stream.model_dtype or None
    )
    layer = data.layer or model.default_layer
    if ActivationStore.is_joint(layer):
        raise GenointerpError(
            f"layer {layer!r}: the joint strand view is read from a store with both strands. "
            "Fix: extract a store and train from it, or stream a plain layer"
        )
    spec = window_spec(
        model,
        stream.window or None,
        None if stream.overlap < 0 else stream.overlap,
        None if stream.min_context < 0 else stream.min_context,
    )
    genomes = [resolve_genome(genome) for genome in stream.genomes]
    batches = ModelBatches(
        model,
        genomes,
        layer,
        spec,
        stream.strands,
        stream.windows_per_forward,
        data.batch_size,
        data.buffer_batches,
        config.seed,
        data.eval_fraction,
        rank,
        world,
    )
    source = DataSource(
        model_id=model.model_id,
        layer=batches.layer,
        hook=f"{batches.layer}.output",
        width=model.d_model,
        checksum=data_checksum([genome.checksum for genome in genomes]),
        where=f"streamed from {model.model_id} over " + "; ".join(stream.genomes),
    )
    return batches, source


def _split_windows(genome, spec: WindowSpec, strands, seed: int, eval_fraction: float):
    """One genome's windows split into (training, held-out) by ``seed`` alone."""
    plan = plan_genome(genome, spec, strands, batch_size=1)
    try:
        train, held_out = held_out_split(len(plan), seed, eval_fraction)
    except ValueError:
        raise GenointerpError(
            f"{getattr(genome, 'source', '') or 'genome'}: {len(plan)} windows of "
            f"{spec.window} nt are too few to hold out {eval_fraction:.0%} for evaluation. "
            "Fix: lower eval_fraction or stream.window, or add sequence"
        ) from None
    return plan[train], plan[held_out]


__all__ = ["ModelBatches", "open_stream"]
