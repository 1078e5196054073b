"""Join the shards of an activation store written by SLURM array tasks."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from .._atomic import atomic_path
from ..errors import GenointerpError
from ._store import STRAND_KEYS, ActivationStore, shard_batches, write_layout
from ._windows import STRANDS, to_genomic

_SHARED_ATTRS = ("model", "model_id", "layers", "genome_checksum", "window", "strands", "dtype")


def merge(parts: list[str | Path], out: str | Path, *, progress: bool = True) -> Path:
    """Merge complete shards into one store at ``out`` (written to a temp file, then renamed).

    Every shard must come from the same model, genome, layers and window plan, and
    together they must cover every batch of the plan.
    """
    if not parts:
        raise GenointerpError("no shards to merge. Fix: pass the shard files of one extraction")
    out = Path(out)
    stores = [ActivationStore(p) for p in parts]
    try:
        owner = _owners(stores)
        with atomic_path(out, suffix=".h5") as tmp:  # a killed merge leaves only a .tmp-* file
            _write_merged(stores, owner, tmp, progress)
    finally:
        for store in stores:
            store.close()
    return out


def _owners(stores: list[ActivationStore]) -> np.ndarray:
    """For every batch, the index of a shard that wrote it; errors name what is missing."""
    first = stores[0]
    plan = first.plan
    owner = np.full(len(first.done), -1)
    for i, store in enumerate(stores):
        for key in _SHARED_ATTRS:
            if store.file.attrs[key] != first.file.attrs[key]:
                raise GenointerpError(
                    f"{store.path}: its {key} differs from {first.path}'s. "
                    "Fix: merge only shards of one extraction"
                )
        if not np.array_equal(store.plan, plan):
            raise GenointerpError(
                f"{store.path}: its window plan differs from {first.path}'s. Fix: "
                "merge only shards of one extraction"
            )
        owned = shard_batches(len(store.done), store.shard)
        finished = owned[store.done[owned] == 1]
        if len(finished) < len(owned):
            raise GenointerpError(
                f"{store.path}: shard is incomplete ({len(finished)} of {len(owned)} batches). "
                "Fix: run its extract task again (it resumes) before merging"
            )
        owner[finished] = i
    missing = np.flatnonzero(owner < 0)
    if len(missing):
        count = json.loads(first.file.attrs["shard"] or "null")
        raise GenointerpError(
            f"{len(missing)} of {len(owner)} batches are in none of the shards given "
            f"(shards of {count[1] if count else '?'} expected). Fix: pass every shard file"
        )
    return owner


def _write_merged(stores, owner, tmp: Path, progress: bool) -> None:
    first = stores[0]
    plan = first.plan
    with h5py.File(tmp, "w") as f:
        for key, value in first.file.attrs.items():
            f.attrs[key] = value
        f.attrs["shard"] = json.dumps(None)
        contigs = {}
        for store in stores:
            for key, group in store.file["contigs"].items():
                contigs[int(key)] = (str(group.attrs["name"]), int(group.attrs["length"]))
        dtype = np.dtype(first.file.attrs["dtype"])
        ones = np.ones(len(owner), np.uint8)
        write_layout(f, plan, ones, contigs, first.layers, first.d_model, dtype)
        lengths = {index: length for index, (_, length) in contigs.items()}
        for row, who in tqdm(
            zip(plan, owner[plan["batch"]], strict=True),
            total=len(plan),
            disable=not progress,
            desc="merge",
            unit="window",
        ):
            g0, g1 = to_genomic(
                int(row["strand"]),
                lengths[int(row["contig"])],
                int(row["keep_start"]),
                int(row["keep_end"]),
            )
            for layer in first.layers:
                strand = STRAND_KEYS[STRANDS[int(row["strand"])]]
                name = f"contigs/{int(row['contig'])}/{strand}/{layer}"
                f[name][g0:g1] = stores[who].file[name][g0:g1]
