"""The feature-activation file: sparse SAE feature activations per position and strand.

Layout (``encoding-type`` ``feature-activations``, version 0.1.0)::

    /                           attrs: encoding-type, encoding-version, sae (JSON provenance),
                                sae_path, model_id, layer, store, genome_checksum, d_sae,
                                strands (JSON), codon_phase, shard (JSON: null,
                                or [i, n] in a shard file), shard_rows (JSON: null, or
                                a shard's [contig, strand, start, end] runs), complete
    /contigs/<i>                attrs name, length
    /contigs/<i>/<strand>/indptr   int64 (length + 1): row p's features are
                                   indices[indptr[p]:indptr[p+1]] (CSR, sorted)
    /contigs/<i>/<strand>/indices  uint16 (int32 when d_sae > 65,535)
    /contigs/<i>/<strand>/values   float16, > 0
    /stats/...                  per-feature statistics (:class:`FeatureStats`)

Rows are genomic positions (0-based); on '-' row p holds what the reverse-complement
pass produced at genomic position p, as in the activation store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .._filekind import unreadable_hdf5
from ..errors import GenointerpError, StoreVersionError
from ..names import ENCODING_TYPE, ENCODING_VERSION
from ._stats import FeatureStats

FEATURES_TYPE = "feature-activations"
FEATURES_VERSION = "0.1.0"
STRAND_KEYS = {"+": "plus", "-": "minus"}
CHUNK_ROWS = 1 << 20  # rows per chunk handed to the aligner


@dataclass
class Chunk:
    """Sparse activations of ``contig[start:end]`` on ``strand``, as CSR rows."""

    contig: str
    strand: str
    start: int
    end: int
    indptr: np.ndarray  # (n + 1,), starts at 0
    indices: np.ndarray  # feature of each non-zero
    values: np.ndarray  # its activation (> 0)

    @property
    def rows(self) -> np.ndarray:
        """Row (0..n-1) of each non-zero."""
        return np.repeat(np.arange(self.end - self.start, dtype=np.int32), np.diff(self.indptr))

    def dense(self, n_features: int) -> np.ndarray:
        out = np.zeros((self.end - self.start, n_features), dtype=np.float32)
        out[self.rows, self.indices] = self.values
        return out


class FeatureActivations:
    """Read a feature-activation file written by :func:`genointerp.features.encode`.

    Examples
    --------
    >>> fa = FeatureActivations("ecoli.features.h5")                  # doctest: +SKIP
    >>> fa.dense("NC_000913.3", "+", 0, 1000, features=[12, 40]).shape   # doctest: +SKIP
    (1000, 2)
    >>> fa.stats.table().sort_values("density").tail()                # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise GenointerpError(
                f"{self.path}: no such feature-activation file. "
                "Fix: run 'genointerp features encode' first"
            )
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as err:
            fix = "give a file from 'genointerp features encode' (a truncated one: encode again)"
            raise StoreVersionError(
                unreadable_hdf5(self.path, err, "a feature-activation file", fix)
            ) from err
        attrs = self.file.attrs
        kind, version = attrs.get(ENCODING_TYPE), attrs.get(ENCODING_VERSION)
        if kind != FEATURES_TYPE or version != FEATURES_VERSION:
            self.file.close()
            raise StoreVersionError(
                f"{self.path}: encoding {kind!r} version {version!r}, expected "
                f"{FEATURES_TYPE!r} {FEATURES_VERSION}. Fix: run 'genointerp features encode'"
            )
        shard = json.loads(attrs.get("shard", "null"))
        if shard is not None:
            self.file.close()
            raise GenointerpError(
                f"{self.path}: shard {shard[0]} of {shard[1]} of an encoding, not a whole one. "
                "Fix: merge every shard with gi.features.merge first"
            )
        if not attrs.get("complete", False):
            self.file.close()
            raise GenointerpError(
                f"{self.path}: encoding did not finish. Fix: run the same "
                "'genointerp features encode' command again to resume it"
            )
        self.sae = json.loads(attrs["sae"])
        self.sae_path = str(attrs["sae_path"])
        self.model_id = str(attrs["model_id"])
        self.layer = str(attrs["layer"])
        self.store = str(attrs["store"])
        self.genome_checksum = str(attrs["genome_checksum"])
        self.d_sae = int(attrs["d_sae"])
        self.strands: list[str] = json.loads(attrs["strands"])
        self._keys = {str(g.attrs["name"]): k for k, g in self.file["contigs"].items()}
        self.stats = FeatureStats.from_group(self.file["stats"])

    @property
    def contigs(self) -> dict[str, int]:
        return {c: int(self.file[f"contigs/{k}"].attrs["length"]) for c, k in self._keys.items()}

    @property
    def n_positions(self) -> int:
        return sum(self.contigs.values()) * len(self.strands)

    def _group(self, contig: str, strand: str) -> h5py.Group:
        if contig not in self._keys:
            raise GenointerpError(
                f"{self.path}: no contig {contig!r}. Fix: use one of {', '.join(self._keys)}"
            )
        if strand not in self.strands:
            raise GenointerpError(f"{self.path}: no strand {strand!r}; it has {self.strands}")
        return self.file[f"contigs/{self._keys[contig]}/{STRAND_KEYS[strand]}"]

    def chunk(self, contig: str, strand: str, start: int = 0, end: int | None = None) -> Chunk:
        """Sparse rows of ``contig[start:end]`` on ``strand``."""
        group = self._group(contig, strand)
        end = self.contigs[contig] if end is None else end
        indptr = group["indptr"][start : end + 1]
        lo, hi = int(indptr[0]), int(indptr[-1])
        return Chunk(
            contig,
            strand,
            start,
            end,
            indptr - lo,
            group["indices"][lo:hi],
            group["values"][lo:hi],
        )

    def dense(
        self, contig: str, strand: str, start: int = 0, end: int | None = None, features=None
    ) -> np.ndarray:
        """Dense activations (end - start, d_sae), or of only ``features``: float32."""
        dense = self.chunk(contig, strand, start, end).dense(self.d_sae)
        return dense if features is None else dense[:, np.asarray(features)]

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
        """Every contig and strand in chunks of ``rows`` positions, in file order."""
        for contig, length in self.contigs.items():
            for strand in self.strands:
                for start in range(0, length, rows):
                    yield self.chunk(contig, strand, start, min(start + rows, length))

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> FeatureActivations:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"FeatureActivations({str(self.path)!r}, model_id={self.model_id!r}, "
            f"layer={self.layer!r}, d_sae={self.d_sae}, contigs={len(self._keys)}, "
            f"strands={self.strands})"
        )
