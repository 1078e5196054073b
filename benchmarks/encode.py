"""Feature encoding speed: the compiled TopK path against the plain torch path it replaced.

Usage::

    python benchmarks/encode.py [--positions 1048576] [--features 1536] [--k 32] \
        [--d-model 96] [--batch-rows 16384] [--repeat 1]

A synthetic float16 activation store (one contig, both strands, ``--positions`` rows
each, standard normal values) and a randomly initialised TopK SAE of the demo's shape
(d_model 96, 1,536 features, k = 32) are encoded twice in the same run by
:func:`genointerp.features.encode`, into two files:

* **before**: the code as it was before the compiled path: ``sae.encode_sparse``
  (``torch.topk``, ``sorted=False``), a global ``argsort`` of the non-zeros into CSR
  order and neighbour counts by ``searchsorted``;
* **after**: the default path (:func:`genointerp.features._kernels.topk_positive`
  and :func:`~genointerp.features._kernels.lag_pairs`, compiled with numba).

Everything else (store reads, HDF5 writes, statistics) is the same code.  The two files
must hold the same CSR arrays and statistics, bit for bit (exit status 1 if not).  Before
that, one batch is split into its parts (the matmul, ``torch.topk``, the compiled
selection) to show where the time goes.  The load average is printed at the start and the
end: the development machine is shared.  Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

import genointerp as gi
from genointerp.features import _encode
from genointerp.features._kernels import topk_positive

LAYER = "blocks.0"


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the path before the compiled kernels (for the comparison) ---------------------------
@torch.no_grad()
def plain_sparse_rows(sae, x, buffer=None):
    """``sparse_rows`` as it was: torch.topk through ``encode_sparse``, then a global sort."""
    rows, cols, values = sae.encode_sparse(x)
    values = values.to(torch.float16)
    keep = values > 0
    rows, cols, values = (t[keep].cpu().numpy() for t in (rows, cols, values))
    order = np.argsort(rows.astype(np.int64) * sae.d_sae + cols, kind="stable")
    counts = np.bincount(rows, minlength=len(x))
    return counts, cols[order].astype(np.int32), values[order]


def searchsorted_neighbours(stats, tail, counts, cols):
    """``_neighbours`` as it was: every key looked up by binary search in the batch + tail."""
    d = stats.d_sae
    all_counts = np.concatenate([tail[0], counts])
    all_cols = np.concatenate([tail[1], cols]).astype(np.int64)
    rows = np.repeat(np.arange(len(all_counts)), all_counts)
    keys_all = rows * d + all_cols
    first = int(tail[0].sum())
    keys, prev = keys_all[first:], keys_all[:first]
    for lag, out in ((1, stats.lag1), (3, stats.lag3)):
        earlier = keys - lag * d
        pool = np.concatenate([prev, keys])
        at = np.minimum(np.searchsorted(pool, earlier), len(pool) - 1)
        hit = (pool[at] == earlier) & (earlier >= 0)
        out += np.bincount(all_cols[first:][hit], minlength=d)
    last = min(3, len(all_counts))
    indptr = np.concatenate([[0], np.cumsum(all_counts)])
    return all_counts[len(all_counts) - last :], all_cols[indptr[-last - 1] :].astype(np.int32)


# -- setup -------------------------------------------------------------------------------
def make_store(path: Path, n: int, d_model: int) -> Path:
    from genointerp.acts import ActivationStore, WindowSpec, plan_windows
    from genointerp.acts._store import create_store

    genome = gi.io.Genome.from_sequences({"synthetic": "ACGT" * (n // 4) + "A" * (n % 4)})
    spec = WindowSpec(window=n, overlap=0, min_context=0)
    plan = plan_windows([n], spec, strands=("+", "-"), batch_size=1)
    info = {"adapter": "tiny", "model_id": "tiny:synthetic", "causal": True, "d_model": d_model}
    create_store(
        path,
        genome=genome,
        model_info=info,
        layers=[LAYER],
        spec=spec,
        strands=["+", "-"],
        plan=plan,
        dtype="float16",
    )
    rng = np.random.default_rng(0)
    with ActivationStore(path, "r+") as store:
        for strand in "+-":
            ds = store.dataset(LAYER, "synthetic", strand)
            for a in range(0, n, 1 << 18):
                b = min(a + (1 << 18), n)
                ds[a:b] = rng.standard_normal((b - a, d_model), dtype=np.float32)
        for batch in range(len(store.done)):
            store.mark_done(batch)
    return path


def make_sae(folder: Path, d_model: int, d_sae: int, k: int) -> Path:
    torch.manual_seed(0)
    sae = gi.sae.build_sae(gi.sae.SAEConfig(architecture="topk", d_sae=d_sae, k=k), d_model)
    provenance = gi.sae.Provenance(model_id="tiny:synthetic", layer=LAYER, d_model=d_model)
    return gi.sae.save_sae(sae, folder, provenance)


# -- measurements ------------------------------------------------------------------------
def parts_of_one_batch(store_path: Path, sae_dir: Path, batch_rows: int, repeat: int = 3):
    """Seconds of the matmul, torch.topk and the compiled selection on one batch (best of)."""
    sae, _ = gi.sae.load_sae(sae_dir)
    sae.eval()
    with gi.acts.ActivationStore(store_path) as store:
        x = torch.from_numpy(store.read(LAYER, "synthetic", "+", 0, batch_rows).astype("float32"))
    k = sae.k
    cols = np.empty((batch_rows, k), np.int32)
    vals = np.empty((batch_rows, k), np.float32)
    tie = np.empty(batch_rows, np.bool_)
    with torch.no_grad():
        pre = sae.pre_acts(x)
        topk_positive(pre.numpy(), k, cols, vals, tie)  # compile outside the timing
        timings = {
            "matmul (pre_acts)": lambda: sae.pre_acts(x),
            "torch.topk(sorted=False)": lambda: pre.topk(k, dim=-1, sorted=False),
            "compiled selection": lambda: topk_positive(pre.numpy(), k, cols, vals, tie),
        }
        out = {}
        for name, fn in timings.items():
            best = np.inf
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            out[name] = best
    return out, int(tie.sum())


def timed_encode(store_path, sae_dir, out: Path, batch_rows: int, plain: bool) -> float:
    saved = (_encode.sparse_rows, _encode._neighbours)
    if plain:
        _encode.sparse_rows, _encode._neighbours = plain_sparse_rows, searchsorted_neighbours
    try:
        t0 = time.perf_counter()
        gi.features.encode(store_path, sae_dir, out, batch_rows=batch_rows).close()
        return time.perf_counter() - t0
    finally:
        _encode.sparse_rows, _encode._neighbours = saved


def same_content(a: Path, b: Path) -> list[str]:
    """Datasets under contigs/ and stats/ that differ between two feature files."""
    differ = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names = []
        fa.visit(lambda n: names.append(n) if n.startswith(("contigs/", "stats/")) else None)
        for name in names:
            if isinstance(fa[name], h5py.Dataset):
                x, y = fa[name][()], fb[name][()]
                if x.dtype != y.dtype or x.tobytes() != y.tobytes():
                    differ.append(name)
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1 << 19, help="rows per strand")
    parser.add_argument("--features", type=int, default=1536)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--d-model", type=int, default=96)
    parser.add_argument("--batch-rows", type=int, default=_encode.BATCH_ROWS)
    parser.add_argument("--repeat", type=int, default=1, help="encode runs of each path")
    args = parser.parse_args()
    n_positions = 2 * args.positions
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}; {load()}")
    with tempfile.TemporaryDirectory(prefix="gi-encode-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        store = make_store(tmp / "store.h5", args.positions, args.d_model)
        sae_dir = make_sae(tmp / "sae", args.d_model, args.features, args.k)
        print(f"setup: {time.perf_counter() - t0:.1f} s ({n_positions:,} positions)")
        parts, tied = parts_of_one_batch(store, sae_dir, args.batch_rows)
        print(f"one batch of {args.batch_rows:,} rows x {args.features} features, k={args.k}:")
        for name, seconds in parts.items():
            print(f"  {name:28s} {seconds * 1000:8.1f} ms")
        print(f"  rows tied at the k-th value (sent to torch.topk): {tied}")
        times = {"before": [], "after": []}
        for _ in range(args.repeat):
            for name in ("before", "after"):
                out = tmp / f"{name}.h5"
                out.unlink(missing_ok=True)
                seconds = timed_encode(store, sae_dir, out, args.batch_rows, name == "before")
                times[name].append(seconds)
                print(f"encode {name:6s}: {seconds:7.1f} s, {n_positions / seconds:10,.0f} pos/s")
        differ = same_content(tmp / "before.h5", tmp / "after.h5")
        before, after = min(times["before"]), min(times["after"])
        print(f"speed-up {before / after:.2f}x (best of {args.repeat}); {load()}")
        scale = 9_283_304 / n_positions
        print(f"at 9,283,304 positions: before {before * scale:.0f} s, after {after * scale:.0f} s")
        if differ:
            print(f"OUTPUTS DIFFER: {', '.join(differ)}")
            return 1
        print("outputs identical (CSR arrays and statistics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
