"""Join the shards of an encoding (``encode(..., shard=(i, n))``) into one feature file."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from .._atomic import atomic_path
from .._filekind import unreadable_hdf5
from ..errors import GenointerpError
from ..names import ENCODING_TYPE, ENCODING_VERSION
from ._encode import _Ledger, create
from ._format import FEATURES_TYPE, FEATURES_VERSION, STRAND_KEYS, FeatureActivations
from ._stats import FeatureStats

# what every shard of one encoding must share; paths (sae_path, store) may differ
# between the machines that ran the shards, and the merged file keeps the first's
_SHARED = (
    "sae_checksum",
    "model_id",
    "layer",
    "genome_checksum",
    "d_sae",
    "strands",
    "codon_phase",
)
_META = ("sae", "sae_path", "sae_checksum", "model_id", "layer", "store", "genome_checksum")
_META += ("d_sae", "strands", "codon_phase")
COPY_ROWS = 1 << 20  # rows copied per read


def merge(parts: list[str | Path], out: str | Path) -> FeatureActivations:
    """Merge every finished shard of one encoding into ``out`` (temp file, then renamed).

    The result equals an unsharded :func:`~genointerp.features.encode` of the same
    store and SAE: the same CSR arrays and the same statistics (neighbour counts
    across shard boundaries are added here).  A missing, unfinished or foreign shard
    is refused with a one-line error.

    Examples
    --------
    >>> parts = [gi.acts.shard_path(Path("f.h5"), (i, 4)) for i in range(4)]  # doctest: +SKIP
    >>> gi.features.merge(parts, "f.h5")                                     # doctest: +SKIP
    """
    if not parts:
        raise GenointerpError("no shards to merge. Fix: pass the shard files of one encoding")
    out = Path(out)
    files: list[h5py.File] = []
    try:
        for part in parts:
            files.append(_open_shard(Path(part)))
        files = _in_order(files)
        with atomic_path(out, suffix=".h5") as tmp:  # a killed merge leaves only a .tmp-* file
            _write(files, tmp)
    finally:
        for f in files:
            f.close()
    return FeatureActivations(out)


def _open_shard(path: Path) -> h5py.File:
    if not path.is_file():
        raise GenointerpError(
            f"{path}: no such shard. Fix: run its encode task first (or pass every shard file)"
        )
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        fix = "pass the shards 'genointerp features encode --shard' wrote (or encode it again)"
        raise GenointerpError(
            unreadable_hdf5(path, err, "a feature-activation shard", fix)
        ) from None
    attrs = f.attrs
    problem = None
    if attrs.get(ENCODING_TYPE) != FEATURES_TYPE or attrs.get(ENCODING_VERSION) != FEATURES_VERSION:
        problem = "is not a feature-activation shard of this version. Fix: encode it again"
    elif json.loads(attrs.get("shard", "null")) is None:
        problem = "is a whole encoding, not a shard. Fix: pass only shard-i-of-n files"
    elif not attrs.get("complete", False):
        problem = "shard is unfinished. Fix: run its encode task again (it resumes)"
    if problem:
        f.close()
        raise GenointerpError(f"{path}: {problem}")
    return f


def _in_order(files: list[h5py.File]) -> list[h5py.File]:
    """The shards sorted by index, checked to be all ``n`` shards of one encoding."""
    first = files[0]
    count = json.loads(first.attrs["shard"])[1]
    seen: dict[int, h5py.File] = {}
    for f in files:
        for key in _SHARED:
            if f.attrs[key] != first.attrs[key]:
                raise GenointerpError(
                    f"{f.filename}: its {key} differs from {first.filename}'s. "
                    "Fix: merge only shards of one encoding"
                )
        index, n = json.loads(f.attrs["shard"])
        if n != count or index in seen:
            why = f"shard {index} of {n}" + (" again" if n == count else f", not of {count}")
            raise GenointerpError(f"{f.filename}: {why}. Fix: pass each shard of one encoding once")
        seen[index] = f
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise GenointerpError(
            f"shards {', '.join(map(str, missing))} of {count} are missing. "
            f"Fix: run encode with --shard i/{count} for each, then merge all {count}"
        )
    return [seen[i] for i in range(count)]


def _write(files: list[h5py.File], tmp: Path) -> None:
    first = files[0]
    meta = {key: first.attrs[key] for key in _META}
    meta["shard"] = meta["shard_rows"] = json.dumps(None)
    contigs = {str(g.attrs["name"]): int(g.attrs["length"]) for g in first["contigs"].values()}
    strands = json.loads(meta["strands"])
    d_sae = int(meta["d_sae"])
    pieces: dict[tuple[str, str], list[tuple[int, int, h5py.File]]] = {}
    for f in files:
        for contig, strand, start, end in json.loads(f.attrs["shard_rows"]):
            pieces.setdefault((contig, strand), []).append((start, end, f))
    stats = FeatureStats.zeros(d_sae)
    for f in files:
        stats.add(FeatureStats.from_group(f["stats"]))
    progress = {}
    with create(tmp, meta, contigs, strands) as h5:
        for i, (contig, length) in enumerate(contigs.items()):
            for strand in strands:
                runs = sorted(pieces.get((contig, strand), []), key=lambda r: r[0])
                key = f"/contigs/{i}/{STRAND_KEYS[strand]}"
                _check_tiling(runs, contig, strand, length, len(files))
                _copy(runs, h5[key], key)
                _boundary_neighbours(stats, h5[key], [r[0] for r in runs], d_sae)
                progress[key] = length
        ledger = _Ledger(h5)
        ledger.progress.update(progress)
        ledger.commit(stats)
        ledger.finish()
        h5.attrs["complete"] = True


def _check_tiling(runs, contig: str, strand: str, length: int, count: int) -> None:
    at = 0
    for start, end, _ in runs:
        if start != at:
            break
        at = end
    if at != length:
        raise GenointerpError(
            f"rows {at:,}.. of {contig} ({strand}) are in none of the {count} shards given "
            f"(or in two). Fix: merge the shards of one encoding, encoded with the same batch_rows"
        )


def _copy(runs, group: h5py.Group, key: str) -> None:
    """Concatenate the shards' CSR runs of one contig and strand into ``group``."""
    total = sum(int(f[key]["indptr"][end]) for _, end, f in runs)
    for name in ("indices", "values"):
        group[name].resize((total,))
    base = 0  # non-zeros written before the current run
    for start, end, f in runs:
        src = f[key]
        for a in range(start, end, COPY_ROWS):
            b = min(a + COPY_ROWS, end)
            ptr = src["indptr"][a : b + 1]
            lo, hi = int(ptr[0]), int(ptr[-1])
            group["indptr"][a + 1 : b + 1] = base + ptr[1:]
            group["indices"][base + lo : base + hi] = src["indices"][lo:hi]
            group["values"][base + lo : base + hi] = src["values"][lo:hi]
        base += int(src["indptr"][end])


def _boundary_neighbours(stats: FeatureStats, group: h5py.Group, starts: list[int], d_sae: int):
    """Add the lag-1/lag-3 pairs whose two rows lie in different shards (no shard saw them).

    Each such pair is counted at the run its later row belongs to: that row is one of the
    first three of the run.
    """
    n_rows = len(group["indptr"]) - 1
    for s, following in zip(starts[1:], [*starts[1:], n_rows][1:], strict=True):
        lo, hi = max(s - 3, 0), min(s + 3, following)
        ptr = group["indptr"][lo : hi + 1]
        cols = group["indices"][int(ptr[0]) : int(ptr[-1])].astype(np.int64)
        rows = np.repeat(np.arange(lo, hi), np.diff(ptr))
        keys = rows * d_sae + cols
        later = keys[rows >= s]  # rows s..hi-1 are in this run; their partners are not
        for lag, out in ((1, stats.lag1), (3, stats.lag3)):
            crossing = later[later // d_sae - lag < s]
            hit = np.isin(crossing - lag * d_sae, keys)
            out += np.bincount(crossing[hit] % d_sae, minlength=d_sae)
