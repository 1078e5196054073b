"""Training batches from an activation store: random chunks through a shuffle buffer.

The store's storage chunks (up to 4,096 positions of one contig and strand each)
are split once into training and held-out chunks.  The training chunks form an
endless stream, each epoch in a fresh random order; the stream is cut into
*fills* of ``buffer_batches * batch_size`` rows, and each fill is shuffled before
it is cut into batches.  So a batch mixes positions from many windows, strands and
contigs, and the batch of step ``s`` depends only on the seed and ``s``: a resumed
job sees exactly the batches an uninterrupted one would.

Under torchrun each process reads its own slice of every fill, so no row is read
twice and the processes together see what one process would.

Several stores (of one model, layer and width: e.g. one per genome) form one stream:
each store's chunks are split into training and held-out chunks as if it were alone
(so :func:`~genointerp.sae.evaluate_sae` on any one of them finds its held-out
chunks), and the training chunks of all stores are shuffled together, so a genome
is drawn in proportion to its positions.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from itertools import zip_longest
from typing import NamedTuple

import numpy as np
import torch

from ..acts import ActivationStore
from ..errors import GenointerpError
from ._config import DataConfig

UNIT_ROWS = 4096  # positions per random read unit (a storage chunk, or part of a big one)


def read_units(store: ActivationStore, layer: str) -> list[tuple[str, str, int, int]]:
    """Storage chunks of ``layer`` as (contig, strand, start, end), split to ``UNIT_ROWS``."""
    return [
        (contig, strand, s, min(s + UNIT_ROWS, end))
        for contig, strand, start, end in store.chunks(layer)
        for s in range(start, end, UNIT_ROWS)
    ]


def first_rows(store: ActivationStore, layer: str, positions: int, units=None) -> np.ndarray:
    """Up to ``positions`` rows of ``layer`` in storage order (of ``units``, default all),
    as float32: (n, store.width(layer))."""
    parts, total = [], 0
    for contig, strand, start, end in units if units is not None else read_units(store, layer):
        if total >= positions:
            break
        parts.append(store.read(layer, contig, strand, start, min(end, start + positions - total)))
        total += len(parts[-1])
    rows = np.concatenate(parts) if parts else np.zeros((0, store.width(layer)))
    return rows.astype(np.float32)


Unit = tuple[int, str, str, int, int]  # (store index, contig, strand, start, end)


def held_out_split(n: int, seed: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n`` units split into (training, held-out), sorted, by ``seed`` alone.

    Raises ``ValueError`` when no unit would be left for training.
    """
    order = np.random.default_rng([seed, 0]).permutation(n)
    n_eval = math.ceil(fraction * n) if fraction > 0 else 0
    if n_eval >= n:
        raise ValueError(f"{n} units are too few to hold out {fraction:.0%} for evaluation")
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def split_units(
    store: ActivationStore, layer: str, seed: int, eval_fraction: float
) -> tuple[list[tuple[str, str, int, int]], list[tuple[str, str, int, int]]]:
    """The read units of one store split into (training, held-out), by ``seed`` alone."""
    chunks = read_units(store, layer)
    try:
        train, held_out = held_out_split(len(chunks), seed, eval_fraction)
    except ValueError:
        raise GenointerpError(
            f"{store.path}: {len(chunks)} chunks of up to {UNIT_ROWS} positions are too few "
            f"to hold out {eval_fraction:.0%} for evaluation. Fix: lower eval_fraction or "
            "extract activations from more sequence"
        ) from None
    return [chunks[i] for i in train], [chunks[i] for i in held_out]


class ShuffledStream:
    """An endless stream of training rows, cut into shuffled fills, one batch per step.

    The stream is made of *units* (storage chunks of a store, or model windows) of
    ``sizes`` rows each; every epoch takes them in a fresh random order (by the seed and
    the epoch), and every ``buffer_batches * batch_size`` rows (a fill) are shuffled
    together.  Subclasses say how a unit's rows are got (:meth:`_piece`) and which rows
    are held out (:meth:`eval_rows`).  The next fill is prepared in a background thread.
    """

    def __init__(
        self,
        sizes: np.ndarray,
        batch_size: int,
        buffer_batches: int,
        seed: int,
        rank: int,
        world: int,
    ) -> None:
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} is not divisible by {world} processes")
        self.batch_size, self.buffer_batches = batch_size, buffer_batches
        self.seed, self.rank, self.world = seed, rank, world
        self._sizes = np.asarray(sizes, dtype=np.int64)
        self.train_rows = int(self._sizes.sum())
        self._epoch: tuple[int, np.ndarray, np.ndarray] | None = None  # epoch, order, bounds
        self._fill_index = -1
        self._fill: torch.Tensor | None = None
        self._next: tuple[int, Future] | None = None  # the following fill, read in background
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sae-fill")

    def _piece(self, unit: int, lo: int, hi: int, epoch: int, position: int) -> np.ndarray:
        """Rows ``[lo, hi)`` of training unit ``unit``, at ``position`` of ``epoch``'s order."""
        raise NotImplementedError

    def eval_rows(self, max_rows: int | None = None) -> np.ndarray:
        """Held-out rows (never trained on), at most ``max_rows``: float32."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the background reader (a pending read finishes and is dropped)."""
        self._reader.shutdown(wait=True, cancel_futures=True)
        self._next = None

    def settle(self) -> None:
        """Wait until the background read of the next fill is done (it may use the model)."""
        if self._next is not None:
            wait([self._next[1]])

    @property
    def rows_per_fill(self) -> int:
        return self.buffer_batches * self.batch_size

    def batch(self, step: int) -> torch.Tensor:
        """This process's rows of step ``step``: (batch_size // world, width) float32."""
        fill, within = divmod(step, self.buffer_batches)
        if fill != self._fill_index:
            if self._next is not None and self._next[0] == fill:
                self._fill = self._next[1].result()
            else:
                self._fill = self._read_fill(fill)
            self._fill_index = fill
            self._next = (fill + 1, self._reader.submit(self._read_fill, fill + 1))
        local = self.batch_size // self.world
        return self._fill[within * local : (within + 1) * local]

    def _read_fill(self, fill: int) -> torch.Tensor:
        """Rows of fill ``fill`` that belong to this process, shuffled."""
        per_rank = self.rows_per_fill // self.world
        start = fill * self.rows_per_fill + self.rank * per_rank
        rows = self.stream_rows(start, start + per_rank)
        shuffle = np.random.default_rng([self.seed, 1, fill, self.rank]).permutation(len(rows))
        return torch.from_numpy(rows[shuffle].astype(np.float32))

    def epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Units in ``epoch``'s order, and where each starts in the epoch (one more: the end)."""
        cached = self._epoch  # one read: the background reader may replace it
        if cached is None or cached[0] != epoch:
            order = np.random.default_rng([self.seed, 2, epoch]).permutation(len(self._sizes))
            cached = (epoch, order, np.concatenate([[0], np.cumsum(self._sizes[order])]))
            self._epoch = cached
        return cached[1], cached[2]

    def stream_rows(self, start: int, end: int) -> np.ndarray:
        """Rows ``[start, end)`` of the endless training stream: (end - start, width)."""
        parts = []
        while start < end:
            epoch, offset = divmod(start, self.train_rows)
            order, bounds = self.epoch_order(epoch)
            take = min(end - start, self.train_rows - offset)
            first = int(np.searchsorted(bounds, offset, side="right")) - 1
            last = int(np.searchsorted(bounds, offset + take, side="left"))
            for position in range(first, last):
                unit = int(order[position])
                lo = max(offset - bounds[position], 0)
                hi = min(offset + take - bounds[position], int(self._sizes[unit]))
                parts.append(self._piece(unit, int(lo), int(hi), epoch, position))
            start += take
        return np.concatenate(parts)


class ActivationBatches(ShuffledStream):
    """Deterministic, shuffled batches of one layer of one or several activation stores.

    Parameters
    ----------
    store
        An open :class:`~genointerp.acts.ActivationStore`, or a list of them (same
        model, layer and width; the caller checks that): their training chunks are
        shuffled together, so each contributes in proportion to its positions.
    layer
        Layer to read: a stored layer or a joint strand view (``blocks.5+rc``).
    batch_size
        Rows per step over all processes; each of ``world`` processes gets
        ``batch_size // world``.
    buffer_batches
        Batches per shuffle buffer.
    seed
        Seeds the chunk split, the epoch orders and the shuffles.
    eval_fraction
        Fraction of each store's chunks held out (see :meth:`eval_rows`).
    rank, world
        This process and the number of processes.
    """

    def __init__(
        self,
        store: ActivationStore | Sequence[ActivationStore],
        layer: str,
        batch_size: int,
        buffer_batches: int = 32,
        seed: int = 0,
        eval_fraction: float = 0.02,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.stores = [store] if isinstance(store, ActivationStore) else list(store)
        self.store, self.layer = self.stores[0], layer
        self.train_chunks: list[Unit] = []
        held_out: list[list[Unit]] = []
        for index, one in enumerate(self.stores):
            train, evaluate = split_units(one, layer, seed, eval_fraction)
            self.train_chunks += [(index, *unit) for unit in train]
            held_out.append([(index, *unit) for unit in evaluate])
        # Round robin over the stores, so a capped evaluation samples every store.
        self.eval_chunks: list[Unit] = [
            unit for group in zip_longest(*held_out) for unit in group if unit is not None
        ]
        sizes = [end - start for *_, start, end in self.train_chunks]
        super().__init__(sizes, batch_size, buffer_batches, seed, rank, world)

    def _read(self, unit: Unit, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Rows ``[lo, hi)`` of one read unit (relative to its start)."""
        index, contig, strand, start, end = unit
        stop = end if hi is None else start + hi
        return self.stores[index].read(self.layer, contig, strand, start + lo, stop)

    def _piece(self, unit: int, lo: int, hi: int, epoch: int, position: int) -> np.ndarray:
        return self._read(self.train_chunks[unit], lo, hi)

    def eval_rows(self, max_rows: int | None = None) -> np.ndarray:
        """Held-out rows (chunks never trained on), at most ``max_rows``: float32."""
        parts, total = [], 0
        for unit in self.eval_chunks:
            if max_rows is not None and total >= max_rows:
                break
            part = self._read(unit)
            parts.append(part)
            total += len(part)
        rows = np.concatenate(parts) if parts else np.zeros((0, self.store.width(self.layer)))
        return rows[:max_rows].astype(np.float32)


def open_stores(data: DataConfig) -> list[ActivationStore]:
    """``data.store`` and ``data.stores``, opened and checked to be finished extractions."""
    paths = [data.store, *data.stores]
    named_twice = {p for p in paths if paths.count(p) > 1}
    if named_twice:
        raise GenointerpError(
            f"{sorted(named_twice)[0]}: named twice in data.store and data.stores. "
            "Fix: list each store once"
        )
    stores = []
    try:
        for path in paths:
            stores.append(ActivationStore(path))
            _check_store(stores[-1])
    except BaseException:
        for store in stores:
            store.close()
        raise
    return stores


def check_same_source(stores: list[ActivationStore], layer: str) -> None:
    """Every store must hold ``layer`` of the first store's model, at the same width."""
    first = stores[0]
    for store in stores[1:]:
        problem = ""
        if store.model_id != first.model_id:
            problem = f"model {store.model_id!r}, not {first.model_id!r}"
        elif store.base_layer(layer) and store.width(layer) != first.width(layer):
            problem = f"width {store.width(layer)} at {layer!r}, not {first.width(layer)}"
        if problem:
            raise GenointerpError(
                f"{store.path}: activations of {problem} (as in {first.path}). Fix: train "
                "on stores of one model and layer, or drop this one from data.stores"
            )


def data_checksum(genome_checksums: list[str]) -> str:
    """The checksum of one genome; for several, sha256 over theirs, one a line, in order."""
    if len(genome_checksums) == 1:
        return genome_checksums[0]
    text = "".join(f"{checksum}\n" for checksum in genome_checksums)
    return "sha256-of-genomes:" + hashlib.sha256(text.encode()).hexdigest()


class DataSource(NamedTuple):
    """What the training rows are; recorded in the SAE's provenance."""

    model_id: str  # the model whose activations they are
    layer: str  # its layer (or a store's joint strand view)
    hook: str  # what exactly is read: "<layer>.output"
    width: int  # the SAE's d_in
    checksum: str  # data_checksum of the genomes
    where: str  # the store paths, or the streamed model and genomes


def store_batches(
    stores: list[ActivationStore], config, rank: int = 0, world: int = 1
) -> tuple[ActivationBatches, DataSource]:
    """Batches of ``config.data`` (a :class:`SAETrainConfig`'s) from open ``stores``."""
    data, first = config.data, stores[0]
    layer = pick_layer(first, data.layer)
    check_same_source(stores, layer)
    batches = ActivationBatches(
        stores,
        layer,
        data.batch_size,
        data.buffer_batches,
        config.seed,
        data.eval_fraction,
        rank,
        world,
    )
    source = DataSource(
        model_id=first.model_id,
        layer=layer,
        hook=hook_name(first, layer),
        width=first.width(layer),
        checksum=data_checksum([store.genome_checksum for store in stores]),
        where="; ".join(str(store.path) for store in stores),
    )
    return batches, source


def hook_name(store: ActivationStore, layer: str) -> str:
    """What an SAE on ``layer`` reads: ``blocks.5.output``, or ``blocks.5.output+rc``."""
    base = store.base_layer(layer)
    return f"{base}.output" + layer.removeprefix(base)


def _check_store(store: ActivationStore) -> None:
    """Unwritten rows of an unfinished extraction are zeros: never train on them."""
    if store.shard:
        raise GenointerpError(
            f"{store.path}: shard {store.shard[0]}/{store.shard[1]} of an extraction. "
            "Fix: merge the shards with 'genointerp acts merge' and train on the merged store"
        )
    if not store.complete:
        raise GenointerpError(
            f"{store.path}: the extraction is not finished. Fix: run the same "
            "'genointerp extract' command again to complete it"
        )


def pick_layer(store: ActivationStore, layer: str) -> str:
    """``layer``, or the store's first; a stored layer or a joint strand view (checked)."""
    if not layer:
        return store.layers[0]
    store.base_layer(layer)  # raises, naming the valid layers
    return layer


__all__ = ["ActivationBatches", "ShuffledStream"]
