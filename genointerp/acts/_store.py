"""The activation store: one HDF5 file of per-position activations for a genome.

Layout (``encoding-type`` ``activation-store``, version 0.1.0)::

    /                       attrs: encoding-type, encoding-version, model (JSON),
                            model_id, layers (JSON), genome, genome_checksum,
                            window (JSON), strands (JSON), dtype, d_model, shard
    /plan                   every window: contig, strand, start, length, keep, batch
    /done                   uint8 per forward batch: 1 once its activations are written
    /contigs/<i>            attrs name, length
    /contigs/<i>/<strand>/<layer>   (length, d_model) float16, chunked; strand "plus"/"minus"

Every dataset is allocated when the file is created, so writing activations
changes raw data only, never HDF5 metadata: a job killed mid-write leaves a
readable file in which the batches marked done are complete.

A store with both strands also offers, for every stored layer ``L``, the *joint
strand view* ``L+rc`` (:data:`JOINT_SUFFIX`): on strand ``s`` row ``p`` is the
activation on ``s`` followed by the activation on the opposite strand at the same
genomic position, (length, 2 * d_model).  It is computed on read; nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np

from .._atomic import atomic_path
from .._filekind import unreadable_hdf5
from ..errors import GenointerpError, StoreVersionError
from ..names import ENCODING_TYPE, ENCODING_VERSION
from ._windows import STRANDS, WindowSpec

STORE_TYPE = "activation-store"
STORE_VERSION = "0.1.0"
STRAND_KEYS = {"+": "plus", "-": "minus"}
CHUNK_BYTES = 1 << 20  # about 1 MB per chunk: one chunk is one random read for SAE batches
_DTYPES = {"float16": np.float16, "float32": np.float32}
JOINT_SUFFIX = "+rc"
"""Suffix of a joint strand view's layer name: ``blocks.5+rc`` is ``blocks.5`` on both strands."""
OPPOSITE = {"+": "-", "-": "+"}


def chunk_rows(d_model: int, itemsize: int) -> int:
    """Positions per chunk: a power of two near ``CHUNK_BYTES``."""
    rows = max(CHUNK_BYTES // (d_model * itemsize), 1)
    return 1 << (rows.bit_length() - 1)


def create_store(
    path: str | Path,
    *,
    genome,
    model_info: dict,
    layers: Sequence[str],
    spec: WindowSpec,
    strands: Sequence[str],
    plan: np.ndarray,
    dtype: str = "float16",
    shard: tuple[int, int] | None = None,
) -> Path:
    """Create an empty store with every dataset allocated (atomically: temp file, rename)."""
    if dtype not in _DTYPES:
        raise GenointerpError(f"store dtype {dtype!r} not supported. Fix: use float16 or float32")
    path = Path(path)
    np_dtype = np.dtype(_DTYPES[dtype])
    d_model = int(model_info["d_model"])
    indices = sorted(set(plan["contig"].tolist()))
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(
            {
                ENCODING_TYPE: STORE_TYPE,
                ENCODING_VERSION: STORE_VERSION,
                "model": json.dumps(model_info, sort_keys=True),
                "model_id": model_info["model_id"],
                "layers": json.dumps(list(layers)),
                "genome": str(getattr(genome, "source", "")),
                "genome_checksum": genome.checksum,
                "window": json.dumps(asdict(spec), sort_keys=True),
                "strands": json.dumps(list(strands)),
                "dtype": dtype,
                "d_model": d_model,
                "shard": json.dumps(list(shard) if shard else None),
            }
        )
        n_batches = int(plan["batch"].max()) + 1 if len(plan) else 0
        contigs = {i: (genome.names[i], genome.lengths[genome.names[i]]) for i in indices}
        write_layout(f, plan, np.zeros(n_batches, np.uint8), contigs, layers, d_model, np_dtype)
    return path


def write_layout(f, plan, done, contigs: dict[int, tuple[str, int]], layers, d_model, dtype):
    """Write the plan and done record and allocate every contig x strand x layer dataset.

    ``contigs`` maps a contig's index in the genome to its (name, length).
    """
    f.create_dataset("plan", data=plan)
    f.create_dataset("done", data=done)
    rows = chunk_rows(d_model, np.dtype(dtype).itemsize)
    for index, (name, length) in sorted(contigs.items()):
        group = f.create_group(f"contigs/{index}")
        group.attrs.update({"name": name, "length": length})
        for strand in sorted(set(plan["strand"][plan["contig"] == index].tolist())):
            for layer in layers:
                _allocate(
                    group, f"{STRAND_KEYS[STRANDS[strand]]}/{layer}", length, d_model, dtype, rows
                )


def shard_batches(n_batches: int, shard: tuple[int, int] | None) -> np.ndarray:
    """Batches shard ``(i, n)`` is responsible for: the i-th of n contiguous, even ranges."""
    if shard is None:
        return np.arange(n_batches)
    index, count = shard
    return np.arange(index * n_batches // count, (index + 1) * n_batches // count)


def _allocate(group, name, length, d_model, dtype, rows) -> None:
    """A chunked dataset whose chunks are all allocated now (no fill: sparse on disk)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    group.create_dataset(
        name,
        shape=(length, d_model),
        dtype=dtype,
        chunks=(min(rows, max(length, 1)), d_model),
        dcpl=dcpl,
        fill_time="never",
    )


class JointView:
    """Read-only, dataset-like view of one contig and strand of a joint layer.

    Indexing rows gives ``concat(own strand, opposite strand)`` along the last axis:
    ``view[a:b]`` is (b - a, 2 * d_model).  ``shape``, ``dtype`` and ``chunks`` follow
    the stored base layer, with the width doubled.
    """

    def __init__(self, own: h5py.Dataset, opposite: h5py.Dataset) -> None:
        self.own, self.opposite = own, opposite
        length, d_model = own.shape
        self.shape = (length, 2 * d_model)
        self.dtype = own.dtype
        self.chunks = (own.chunks[0], 2 * d_model) if own.chunks else None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        rows, columns = key, ()
        if isinstance(key, tuple):
            rows, columns = (key[0] if key else slice(None)), key[1:]
        out = np.concatenate([self.own[rows], self.opposite[rows]], axis=-1)
        return out[(slice(None),) * (out.ndim - 1) + columns] if columns else out


class ActivationStore:
    """Read access to an activation store (and the writer's bookkeeping).

    Parameters
    ----------
    path
        An HDF5 file written by :func:`genointerp.acts.extract` or :func:`merge`.
    mode
        ``"r"`` to read, ``"r+"`` for the extractor to write.

    Notes
    -----
    Layer names are the stored layers (``store.layers``) and, when the store holds both
    strands, their joint strand views ``f"{layer}{JOINT_SUFFIX}"`` (e.g. ``blocks.5+rc``,
    see :meth:`joint_layer`).  A causal model at a position has read only what lies
    upstream on that strand; the joint view gives each position both readings: on
    strand ``s``, row ``p`` is the activation on ``s`` then the activation on the
    opposite strand at genomic position ``p`` (own strand first), width ``2 * d_model``
    (:meth:`width`).  :meth:`read`, :meth:`dataset` and :meth:`chunks` accept it like a
    stored layer, so the SAE trainer and any reader use it by name; it is assembled on
    read from the two stored strands and takes no space on disk.

    Examples
    --------
    >>> store = ActivationStore("ecoli.acts.h5")                      # doctest: +SKIP
    >>> x = store.read("blocks.7", "NC_000913.3", "+", 0, 1000)      # doctest: +SKIP
    >>> x.shape                                                       # doctest: +SKIP
    (1000, 96)
    >>> joint = store.joint_layer("blocks.7")                          # doctest: +SKIP
    >>> store.read(joint, "NC_000913.3", "+", 0, 1000).shape           # doctest: +SKIP
    (1000, 192)
    """

    def __init__(self, path: str | Path, mode: str = "r") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise GenointerpError(
                f"{self.path}: no such activation store. Fix: run 'genointerp extract' first"
            )
        try:
            self.file = h5py.File(self.path, mode)
        except OSError as err:
            fix = "give a store from 'genointerp extract' (if truncated, extract again)"
            raise StoreVersionError(
                unreadable_hdf5(self.path, err, "an activation store", fix)
            ) from err
        attrs = self.file.attrs
        kind, version = attrs.get(ENCODING_TYPE), attrs.get(ENCODING_VERSION)
        if kind != STORE_TYPE:
            self.file.close()
            raise StoreVersionError(
                f"{self.path}: encoding-type is {kind!r}, not {STORE_TYPE!r}. "
                "Fix: pass an activation store written by 'genointerp extract'"
            )
        if version != STORE_VERSION:
            self.file.close()
            raise StoreVersionError(
                f"{self.path}: activation-store version {version}, this genointerp reads "
                f"{STORE_VERSION}. Fix: extract again with this version"
            )
        self.model = json.loads(attrs["model"])
        self.model_id = str(attrs["model_id"])
        self.layers: list[str] = json.loads(attrs["layers"])
        self.strands: list[str] = json.loads(attrs["strands"])
        self.window = WindowSpec(**json.loads(attrs["window"]))
        self.genome_checksum = str(attrs["genome_checksum"])
        self.genome_source = str(attrs.get("genome", ""))  # the file extracted from
        self.d_model = int(attrs["d_model"])
        shard = json.loads(attrs["shard"])
        self.shard = tuple(shard) if shard else None
        self._contig_index = {
            str(group.attrs["name"]): key for key, group in self.file["contigs"].items()
        }

    # -- bookkeeping -------------------------------------------------------------
    @property
    def plan(self) -> np.ndarray:
        return self.file["plan"][()]

    @property
    def done(self) -> np.ndarray:
        return self.file["done"][()]

    @property
    def complete(self) -> bool:
        """True when every batch this file is responsible for has been written."""
        owned = shard_batches(len(self.done), self.shard)
        return bool(self.done[owned].all())

    def mark_done(self, batch: int) -> None:
        self.file.flush()  # the data first, then the record that it is there
        self.file["done"][batch] = 1
        self.file.flush()

    # -- reading -----------------------------------------------------------------
    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> length, for the contigs in this store."""
        return {
            name: int(self.file[f"contigs/{key}"].attrs["length"])
            for name, key in self._contig_index.items()
        }

    # -- layers and the joint strand view ----------------------------------------------
    @staticmethod
    def is_joint(layer: str) -> bool:
        """Whether ``layer`` names a joint strand view (ends with :data:`JOINT_SUFFIX`)."""
        return layer.endswith(JOINT_SUFFIX)

    def joint_layer(self, base: str) -> str:
        """The name of the joint strand view of stored layer ``base``: ``base + "+rc"``.

        Raises :class:`~genointerp.errors.GenointerpError` when ``base`` is not a stored
        layer or the store lacks a strand.

        Examples
        --------
        >>> store.joint_layer("blocks.5")                                # doctest: +SKIP
        'blocks.5+rc'
        """
        layer = base + JOINT_SUFFIX
        self.base_layer(layer)
        return layer

    def base_layer(self, layer: str) -> str:
        """The stored layer that ``layer`` reads (itself, or the base of a joint view).

        Raises :class:`~genointerp.errors.GenointerpError` naming the valid layers when
        there is no such layer, or when a joint view is asked of a one-strand store.
        """
        base = layer.removesuffix(JOINT_SUFFIX) if self.is_joint(layer) else layer
        if base not in self.layers:
            joint = [name + JOINT_SUFFIX for name in self.layers] if self._two_strands else []
            raise GenointerpError(
                f"{self.path}: no layer {layer!r}. Fix: use one of {', '.join(self.layers + joint)}"
            )
        if base != layer and not self._two_strands:
            raise GenointerpError(
                f"{self.path}: the joint strand view {layer!r} needs both strands, but this "
                f"store holds only {', '.join(self.strands)}. Fix: use {base!r}, or extract "
                "again with both strands (genointerp extract --strands +,-)"
            )
        return base

    def width(self, layer: str) -> int:
        """Columns of ``layer``: ``d_model``, or ``2 * d_model`` for a joint strand view."""
        return self.d_model * (2 if self.base_layer(layer) != layer else 1)

    @property
    def _two_strands(self) -> bool:
        return set(self.strands) == set(OPPOSITE)

    def dataset(self, layer: str, contig: str, strand: str) -> h5py.Dataset | JointView:
        """The HDF5 dataset of one layer, contig and strand: (contig length, d_model).

        For a joint strand view, a read-only :class:`JointView` of (contig length,
        2 * d_model) over this strand's and the opposite strand's datasets.
        """
        base = self.base_layer(layer)
        if base != layer:
            return JointView(
                self.dataset(base, contig, strand), self.dataset(base, contig, OPPOSITE[strand])
            )
        if contig not in self._contig_index:
            raise GenointerpError(
                f"{self.path}: no contig {contig!r}. "
                f"Fix: use one of {', '.join(self._contig_index)}"
            )
        if strand not in self.strands:
            raise GenointerpError(
                f"{self.path}: no strand {strand!r}. Fix: use one of {self.strands}"
            )
        return self.file[f"contigs/{self._contig_index[contig]}/{STRAND_KEYS[strand]}/{layer}"]

    def read(
        self, layer: str, contig: str, strand: str = "+", start: int = 0, end: int | None = None
    ) -> np.ndarray:
        """Activations of genomic positions ``[start, end)``: (end - start, width(layer)).

        On '-', row ``i`` is the activation the model produced reading the reverse
        complement when it was at genomic position ``start + i``.  For a joint strand
        view (``layer`` ending in ``+rc``) row ``i`` is that of ``strand`` followed by
        that of the opposite strand at the same genomic position.
        """
        return self.dataset(layer, contig, strand)[start:end]

    def chunks(self, layer: str) -> list[tuple[str, str, int, int]]:
        """Every storage chunk of ``layer`` as (contig, strand, start, end): random-read units.

        A joint strand view has the chunks of its base layer.
        """
        out = []
        for contig, length in self.contigs.items():
            for strand in self.strands:
                rows = self.dataset(layer, contig, strand).chunks[0]
                out.extend(
                    (contig, strand, s, min(s + rows, length)) for s in range(0, length, rows)
                )
        return out

    @property
    def n_positions(self) -> int:
        """Positions per layer over all contigs and strands."""
        return sum(self.contigs.values()) * len(self.strands)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> ActivationStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ActivationStore({str(self.path)!r}, model_id={self.model_id!r}, "
            f"layers={self.layers}, "
            f"contigs={len(self._contig_index)}, strands={self.strands}, d_model={self.d_model})"
        )
