"""Encode an activation store with an SAE into sparse feature activations (streaming)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__
from .._atomic import atomic_path
from ..errors import GenointerpError
from ..names import ENCODING_TYPE, ENCODING_VERSION
from ._format import FEATURES_TYPE, FEATURES_VERSION, STRAND_KEYS, FeatureActivations
from ._shards import shard_path, shard_rows
from ._stats import FeatureStats, log_bins

BATCH_ROWS = 16384  # positions encoded per SAE call
CHECKPOINT_ROWS = 1 << 20  # resume granularity: rows (and stats) are committed this often
CODON_CONCEPTS = ("codon_pos1", "codon_pos2", "codon_pos3")


def encode(
    store,
    sae,
    output: str | Path,
    *,
    layer: str | None = None,
    tracks=None,
    batch_rows: int = BATCH_ROWS,
    device: str | None = None,
    shard: tuple[int, int] | str | None = None,
    progress: bool = False,
) -> FeatureActivations | Path:
    """Run ``sae`` over every position of ``store`` and write the non-zero activations.

    Parameters
    ----------
    store
        An :class:`~genointerp.acts.ActivationStore` (or its path), complete.
    sae
        An SAE directory (checked against the store's model and layer) or a loaded
        ``(SAE, Provenance)`` pair.
    output
        The ``.h5`` feature-activation file.  Work goes to ``<output>.partial`` and
        is renamed when complete; running the same call again resumes it.
    layer
        Store layer to encode (default: the SAE's layer).
    tracks
        :class:`~genointerp.concepts.ConceptTracks` of the same genome; with
        ``codon_pos1..3`` concepts the statistics get a codon-phase profile.
    shard
        ``(i, n)`` or ``"i/n"`` (0-based): encode only part ``i`` of ``n`` (contiguous
        runs of contig/strand rows, balanced by positions, cut at multiples of
        ``batch_rows``) into ``<output stem>.shard-i-of-n.h5`` (resumable the same way);
        :func:`merge` joins the finished shards into ``output``.

    Returns
    -------
    FeatureActivations or Path
        The finished file, opened for reading; for a shard, the shard file's path.

    Examples
    --------
    >>> for i in range(4):                                               # doctest: +SKIP
    ...     gi.features.encode(store, sae_dir, "features.h5", shard=(i, 4))
    >>> parts = [f"features.shard-{i}-of-4.h5" for i in range(4)]
    >>> fa = gi.features.merge(parts, "features.h5")                      # doctest: +SKIP
    """
    from ..acts import ActivationStore
    from ..sae import load_sae

    if not isinstance(store, ActivationStore):
        store = ActivationStore(store)
    if not store.complete:
        raise GenointerpError(
            f"{store.path}: extraction has not finished. Fix: run the same 'genointerp "
            "extract' command again to complete it, then encode"
        )
    sae_path = ""
    if isinstance(sae, str | Path):
        sae_path = str(sae)
        sae, provenance = load_sae(sae, model_id=store.model_id, layer=layer)
    else:
        sae, provenance = sae
    layer = layer or provenance.layer
    if tracks is not None and tracks.genome_checksum != store.genome_checksum:
        raise GenointerpError(
            f"concept tracks of genome {tracks.genome_checksum[:12]} do not match store "
            f"{store.path} (genome {store.genome_checksum[:12]}). Fix: build the tracks "
            "on the genome that was extracted"
        )
    shard = _check_shard(shard)
    target = shard_path(Path(output), shard)
    partial = target.with_name(target.name + ".partial")
    groups = [(c, s, n) for c, n in store.contigs.items() for s in store.strands]
    ranges = shard_rows(groups, shard, batch_rows)
    meta = {
        "sae": json.dumps(asdict(provenance)),
        "sae_path": sae_path,
        "sae_checksum": _weights_checksum(sae),
        "model_id": store.model_id,
        "layer": layer,
        "store": str(store.path),
        "genome_checksum": store.genome_checksum,
        "d_sae": int(sae.d_sae),
        "strands": json.dumps(store.strands),
        "codon_phase": bool(tracks is not None and _has_codons(tracks)),
        "shard": json.dumps(list(shard) if shard else None),
        "shard_rows": json.dumps(ranges if shard else None),
    }
    device = torch.device(device or "cpu")
    sae = sae.to(device).eval()
    with _open_partial(partial, meta, store) as h5:
        ledger = _Ledger(h5)
        keys = {r: _group_key(h5, r[0], r[1]) for r in ranges}
        bar = tqdm(
            total=sum(end - start for _, _, start, end in ranges),
            initial=sum(ledger.progress.get(keys[r], r[2]) - r[2] for r in ranges),
            unit="nt",
            disable=not progress,
            desc="encode",
        )
        work = (store, layer, sae, device)
        for run in ranges:
            contig, strand = run[:2]
            length = store.contigs[contig]
            phase = _phase(tracks, contig, strand, length) if meta["codon_phase"] else None
            _encode_stream(work, run, h5[keys[run]], ledger, phase, batch_rows, bar)
        bar.close()
        for contig, strand, _, end in ranges:
            trim(h5[_group_key(h5, contig, strand)], end)
        ledger.finish()
        h5.attrs["complete"] = True
    os.replace(partial, target)
    return target if shard else FeatureActivations(target)


def _check_shard(shard) -> tuple[int, int] | None:
    from ..acts import parse_shard

    if shard is None:
        return None
    return parse_shard(shard if isinstance(shard, str) else f"{shard[0]}/{shard[1]}")


def _encode_stream(work, run, group, ledger, phase, batch_rows, bar) -> None:
    """Encode one run of rows of a contig and strand, from where the ledger stopped."""
    store, layer, sae, device = work
    contig, strand, first, length = run  # rows first:length
    start = ledger.progress.get(group.name, first)
    if start >= length:
        return
    indptr_ds, indices_ds, values_ds = group["indptr"], group["indices"], group["values"]
    nnz = int(indptr_ds[start])
    # the last rows before ``start``, for neighbour counts (none before a shard's first
    # row: merge counts the pairs across shard boundaries)
    tail = _tail(indptr_ds, indices_ds, start)
    pending = FeatureStats.zeros(sae.d_sae)
    since_commit = 0
    buffer = torch.empty((min(batch_rows, length - start), sae.d_sae), device=device)
    while start < length:
        end = min(start + batch_rows, length)
        x = torch.from_numpy(store.read(layer, contig, strand, start, end).astype(np.float32))
        counts, cols, values = sparse_rows(sae, x.to(device), buffer)
        tail = _neighbours(pending, tail, counts, cols)
        indptr_ds[start + 1 : end + 1] = nnz + np.cumsum(counts)
        _append(indices_ds, nnz, cols.astype(indices_ds.dtype))
        _append(values_ds, nnz, values)
        nnz += len(values)
        rows = np.repeat(np.arange(end - start), counts)
        _accumulate(pending, strand, cols, values, rows, phase, start, end)
        pending.positions += end - start
        bar.update(end - start)
        since_commit += end - start
        start = end
        if since_commit >= CHECKPOINT_ROWS or start == length:
            ledger.commit(pending, group.name, start)
            pending, since_commit = FeatureStats.zeros(sae.d_sae), 0


@torch.no_grad()
def sparse_rows(
    sae, x: torch.Tensor, buffer: torch.Tensor | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero float16 activations of rows ``x`` (n, d_in) as CSR pieces.

    Returns ``counts`` (n,) non-zeros per row, then each non-zero's feature (increasing
    within a row, int32) and value (float16, > 0).  A TopK SAE on the CPU selects with
    the compiled :func:`~._kernels.topk_positive`; rows where the k-th value is tied go
    to ``torch.topk`` as before, so the output is exactly the plain path's.  ``buffer``
    (at least (n, d_sae) float32) receives the pre-activations, so that batches reuse
    one allocation instead of faulting in a fresh one each time.
    """
    if sae.architecture == "topk" and x.device.type == "cpu":
        return _topk_rows(_pre_acts(sae, x, buffer).numpy(), sae.k)
    rows, cols, values = sae.encode_sparse(x)
    values = values.to(torch.float16)
    keep = values > 0  # float16 rounding can send tiny activations to zero
    rows, cols, values = (t[keep].cpu().numpy() for t in (rows, cols, values))
    order = np.argsort(rows.astype(np.int64) * sae.d_sae + cols, kind="stable")
    counts = np.bincount(rows, minlength=len(x))
    return counts, cols[order].astype(np.int32), values[order]


def _pre_acts(sae, x: torch.Tensor, buffer: torch.Tensor | None) -> torch.Tensor:
    """``sae.pre_acts(x)``, the same arithmetic, written into ``buffer[:n]`` when given."""
    if buffer is None or buffer.dtype != sae.W_dec.dtype or len(buffer) < len(x):
        return sae.pre_acts(x)
    out = buffer[: len(x)]
    x = x.to(dtype=sae.W_dec.dtype)
    if not sae.apply_b_dec_to_input:
        return torch.addmm(sae.b_enc, x, sae.W_enc, out=out)
    b_dec = sae.b_dec
    bias = sae.b_enc - (b_dec - b_dec) @ sae.W_enc  # as pre_acts: b_enc minus exact zeros
    return torch.addmm(bias, x - b_dec, sae.W_enc, out=out)


def _topk_rows(pre: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ._kernels import topk_positive

    n, d = pre.shape  # (batch, d_sae)
    cols = np.empty((n, k), dtype=np.int32)
    vals = np.empty((n, k), dtype=np.float32)
    tie = np.empty(n, dtype=np.bool_)
    topk_positive(pre, k, cols, vals, tie)
    tied = np.flatnonzero(tie)
    if len(tied):  # ambiguous rows: whatever torch.topk picks, as the plain path does
        v, c = torch.from_numpy(pre[tied]).topk(k, dim=-1, sorted=False)
        c, order = c.sort(dim=-1)
        v = v.gather(-1, order).clamp_min(0)
        cols[tied], vals[tied] = c.numpy(), v.numpy()
    values = vals.astype(np.float16)
    keep = values > 0  # float16 rounding can send tiny activations to zero
    return keep.sum(axis=1), cols[keep], values[keep]


class _Ledger:
    """Statistics and progress, committed together so a killed job resumes exactly.

    Two statistics groups alternate; a commit writes the new totals and progress into
    the spare one, flushes, then flips ``stats_current`` (one attribute write).
    """

    def __init__(self, h5: h5py.File) -> None:
        self.h5 = h5
        current = h5[f"stats_{int(h5.attrs['stats_current'])}"]
        self.stats = FeatureStats.from_group(current)
        self.progress: dict[str, int] = json.loads(current.attrs["progress"])

    def commit(self, pending: FeatureStats, group: str | None = None, rows: int = 0) -> None:
        """Add ``pending`` to the totals and record ``group`` as done up to ``rows``."""
        self.stats.add(pending)
        if group is not None:
            self.progress[group] = rows
        spare = 1 - int(self.h5.attrs["stats_current"])
        target = self.h5[f"stats_{spare}"]
        self.stats.to_group(target)
        target.attrs["progress"] = json.dumps(self.progress)
        self.h5.flush()  # data and statistics first, then the switch that commits them
        self.h5.attrs["stats_current"] = spare
        self.h5.flush()

    def finish(self) -> None:
        """Write the final statistics; a run killed while writing them rewrites them."""
        if "stats" in self.h5:
            del self.h5["stats"]
        self.stats.to_group(self.h5.create_group("stats"))


def trim(group: h5py.Group, end: int) -> None:
    """Cut ``indices``/``values`` (grown by doubling) to the non-zeros of rows before ``end``."""
    nnz = int(group["indptr"][end])
    for name in ("indices", "values"):
        group[name].resize((nnz,))


def _neighbours(stats: FeatureStats, tail, counts: np.ndarray, cols: np.ndarray):
    """Count active (p, f) whose (p - 1, f) / (p - 3, f) is active, for p in this batch.

    ``tail``: (counts, cols) of up to 3 rows before the batch; returns the batch's own.
    """
    from ._kernels import lag_pairs

    counts = np.concatenate([tail[0], counts])
    cols = np.concatenate([tail[1], cols])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    for lag, out in ((1, stats.lag1), (3, stats.lag3)):
        out += lag_pairs(indptr, cols, len(tail[0]), lag, stats.d_sae)
    last = min(3, len(counts))
    return counts[len(counts) - last :], cols[indptr[len(counts) - last] :]


def _accumulate(stats, strand, cols, values, rows, phase, start, end) -> None:
    d = stats.d_sae
    count = np.bincount(cols, minlength=d)
    (stats.count_plus if strand == "+" else stats.count_minus)[:] += count
    v = values.astype(np.float32)
    stats.total += np.bincount(cols, weights=v, minlength=d)
    np.maximum.at(stats.max, cols, v)
    stats.hist += np.bincount(
        cols * stats.hist.shape[1] + log_bins(v), minlength=stats.hist.size
    ).reshape(stats.hist.shape)
    if phase is not None:
        ph = phase[start:end][rows]
        inside = ph >= 0
        stats.phase += np.bincount(cols[inside] * 3 + ph[inside], minlength=3 * d).reshape(d, 3)
        stats.coding_positions += int((phase[start:end] >= 0).sum())


def _tail(indptr_ds, indices_ds, start: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts, cols) of the up to 3 rows before ``start`` already in the file."""
    lo = max(0, start - 3)
    ptr = indptr_ds[lo : start + 1]
    return np.diff(ptr), indices_ds[ptr[0] : ptr[-1]].astype(np.int32)


def _append(ds: h5py.Dataset, at: int, data: np.ndarray) -> None:
    if ds.shape[0] < at + len(data):
        ds.resize((max(at + len(data), 2 * ds.shape[0]),))
    ds[at : at + len(data)] = data


def _phase(tracks, contig: str, strand: str, length: int) -> np.ndarray:
    """Codon position (0, 1, 2) of each position in coding sequence on ``strand``, else -1."""
    masks = tracks.mask(contig, strand, 0, length, CODON_CONCEPTS)
    phase = np.full(length, -1, dtype=np.int64)
    for j in range(3):
        phase[masks[j]] = j
    return phase


def _has_codons(tracks) -> bool:
    return all(c in tracks.concepts for c in CODON_CONCEPTS)


def _weights_checksum(sae) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(sae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class _open_partial:
    """Open ``<output>.partial`` to resume, or create it; refuse one from other inputs."""

    def __init__(self, path: Path, meta: dict, store) -> None:
        self.path, self.meta, self.store = path, meta, store

    def __enter__(self) -> h5py.File:
        if self.path.exists():
            try:
                h5 = h5py.File(self.path, "r+")
            except OSError:
                self.path.unlink()  # killed before the layout was written: start again
            else:
                same = ("sae_checksum", "store", "layer", "codon_phase")
                old = {k: h5.attrs.get(k) for k in same}
                old["shard_rows"] = h5.attrs.get("shard_rows", "null")
                if old == {k: self.meta[k] for k in old}:
                    self.h5 = h5
                    return h5
                h5.close()
                raise GenointerpError(
                    f"{self.path}: an unfinished encoding of another SAE, store or layer. "
                    "Fix: delete it, or rerun the command that started it"
                )
        # laid out under a temporary name, so a job killed while creating it leaves no
        # half-made .partial (its missing attributes would read as another SAE's)
        with atomic_path(self.path, suffix=".h5") as tmp:
            create(tmp, self.meta, self.store.contigs, self.store.strands).close()
        self.h5 = h5py.File(self.path, "r+")
        return self.h5

    def __exit__(self, *exc) -> None:
        self.h5.close()


def create(path: Path, meta: dict, contigs: dict[str, int], strands: list[str]) -> h5py.File:
    """A new, empty feature-activation file with ``meta`` and its ``contigs`` x ``strands``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h5 = h5py.File(path, "w")
    h5.attrs[ENCODING_TYPE] = FEATURES_TYPE
    h5.attrs[ENCODING_VERSION] = FEATURES_VERSION
    h5.attrs.update(meta)
    h5.attrs["genointerp_version"] = __version__
    h5.attrs["complete"] = False
    index_dtype = np.uint16 if meta["d_sae"] <= np.iinfo(np.uint16).max + 1 else np.int32
    for i, (contig, length) in enumerate(contigs.items()):
        cgroup = h5.create_group(f"contigs/{i}")
        cgroup.attrs["name"] = contig
        cgroup.attrs["length"] = length
        for strand in strands:
            g = cgroup.create_group(STRAND_KEYS[strand])
            g.create_dataset("indptr", shape=(length + 1,), dtype=np.int64, fillvalue=0)
            for name, dtype in (("indices", index_dtype), ("values", np.float16)):
                g.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(1 << 18,))
    for k in (0, 1):
        group = h5.create_group(f"stats_{k}")
        FeatureStats.zeros(meta["d_sae"]).to_group(group)
        group.attrs["progress"] = "{}"
    h5.attrs["stats_current"] = 0
    h5.flush()
    return h5


def _group_key(h5: h5py.File, contig: str, strand: str) -> str:
    for key, group in h5["contigs"].items():
        if group.attrs["name"] == contig:
            return f"/contigs/{key}/{STRAND_KEYS[strand]}"
    raise KeyError(contig)
