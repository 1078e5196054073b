"""Feature sources other than an encoded file: arrays in memory, raw neurons, probe outputs.

A source has ``contigs`` ({name: length}), ``strands``, ``n_features``, ``n_positions``,
``genome_checksum``, ``scale()`` (per-feature max) and ``chunks(rows)`` yielding
:class:`~genointerp.features.Chunk` with non-negative activations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..features import Chunk


def _csr(contig: str, strand: str, start: int, dense: np.ndarray) -> Chunk:
    rows, cols = np.nonzero(dense > 0)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(dense)))])
    return Chunk(
        contig,
        strand,
        start,
        start + len(dense),
        indptr,
        cols.astype(np.int32),
        dense[rows, cols].astype(np.float32),
    )


class ArraySource:
    """Dense activations held in memory: ``{(contig, strand): (length, n_features)}``.

    Negative values are treated as inactive.  Used for tests, probes and small genomes.
    """

    def __init__(self, arrays: dict[tuple[str, str], np.ndarray], genome_checksum: str = ""):
        self.arrays = arrays
        self.genome_checksum = genome_checksum
        self.contigs = {c: len(a) for (c, _), a in arrays.items()}
        self.strands = sorted({s for _, s in arrays}, key="+-".index)
        self.n_features = next(iter(arrays.values())).shape[1]

    @property
    def n_positions(self) -> int:
        return sum(len(a) for a in self.arrays.values())

    def scale(self) -> np.ndarray:
        return np.max([np.maximum(a, 0).max(0) for a in self.arrays.values()], axis=0)

    def chunks(self, rows: int = 1 << 20) -> Iterator[Chunk]:
        for contig in self.contigs:
            for strand in self.strands:
                a = self.arrays[(contig, strand)]
                for start in range(0, len(a), rows):
                    yield _csr(contig, strand, start, a[start : start + rows])


class StoreSource:
    """Any per-position function of an activation store's rows, as a feature source.

    ``transform`` maps float32 rows (n, d_model) to non-negative features (n, n_features).
    :func:`neurons` builds the single-neuron baseline from it, a probe its outputs.
    """

    def __init__(
        self, store, layer: str, transform: Callable[[np.ndarray], np.ndarray], n_features: int
    ) -> None:
        self.store, self.layer, self.transform = store, layer, transform
        self.n_features = n_features
        self.genome_checksum = store.genome_checksum
        self.contigs = store.contigs
        self.strands = list(store.strands)
        self._scale: np.ndarray | None = None

    @property
    def n_positions(self) -> int:
        return sum(self.contigs.values()) * len(self.strands)

    def dense_chunks(self, rows: int = 1 << 18):
        for contig, length in self.contigs.items():
            for strand in self.strands:
                for start in range(0, length, rows):
                    end = min(start + rows, length)
                    x = self.store.read(self.layer, contig, strand, start, end)
                    yield contig, strand, start, self.transform(x.astype(np.float32))

    def scale(self) -> np.ndarray:
        """Per-feature max over the store (one extra pass, cached)."""
        if self._scale is None:
            self._scale = np.zeros(self.n_features, dtype=np.float32)
            for *_, dense in self.dense_chunks():
                np.maximum(self._scale, dense.max(0), out=self._scale)
        return self._scale

    def chunks(self, rows: int = 1 << 18) -> Iterator[Chunk]:
        for contig, strand, start, dense in self.dense_chunks(rows):
            yield _csr(contig, strand, start, dense)


def neurons(store, layer: str) -> StoreSource:
    """Single neurons of the raw activations (the "identity SAE"): feature ``2i`` is
    ``max(x_i, 0)`` and ``2i + 1`` is ``max(-x_i, 0)``, so both signs can match a concept."""
    d = store.width(layer)

    def split_signs(x: np.ndarray) -> np.ndarray:
        out = np.empty((len(x), 2 * d), dtype=np.float32)
        np.maximum(x, 0, out=out[:, 0::2])
        np.maximum(-x, 0, out=out[:, 1::2])
        return out

    return StoreSource(store, layer, split_signs, 2 * d)
