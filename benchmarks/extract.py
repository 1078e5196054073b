"""Extraction overhead: bare model forward vs extract-and-store, same model, same windows.

Usage::

    GENOINTERP_DATA_MIRROR=../shared/data python benchmarks/extract.py \
        [--layer blocks.5] [--batch-size N] [--threads N] [--length N] [--repeats N]

Prints positions/s of (a) the built-in model's forward over every window of the
E. coli plan (both strands), nothing kept, and (b) ``gi.acts.extract`` doing the same
and writing the float16 store; then the overhead ratio (b's time over a's, minus one).
Both count genome positions (9.28 M for the whole genome, both strands).  With
``--repeats N`` (a) and (b) alternate N times and the best time of each is compared,
which a shared machine's bursts of load disturb least; ``--length`` takes a slice.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import genointerp as gi
from genointerp.acts._windows import plan_windows, window_codes


def bare_forward(model, genome, layers, spec, batch_size) -> tuple[float, int, int]:
    """Forward every window of the plan; returns seconds, kept and read positions."""
    names = genome.names
    plan = plan_windows(
        [genome.lengths[c] for c in names],
        spec,
        circular=[genome.circular[c] for c in names],
        batch_size=batch_size,
    )
    strands = {}
    for i, name in enumerate(names):
        codes = np.asarray(genome.codes(name))
        strands[(i, 0)] = codes
        strands[(i, 1)] = gi.models.reverse_complement(codes)
    started = time.perf_counter()
    for batch in np.unique(plan["batch"]):
        rows = plan[plan["batch"] == batch]
        codes = np.stack(
            [
                window_codes(
                    strands[(int(r["contig"]), int(r["strand"]))], int(r["start"]), int(r["length"])
                )
                for r in rows
            ]
        )
        model.forward(codes, layers)
    seconds = time.perf_counter() - started
    kept = int((plan["keep_end"] - plan["keep_start"]).sum())
    return seconds, kept, int(plan["length"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="blocks.5")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, help="store path (default: a temp dir)")
    parser.add_argument("--length", type=int, default=0, help="first N nt only (0: all)")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    genome = gi.datasets.load("ecoli_k12").genome()
    model = gi.models.load_model("tiny")
    spec = gi.acts.WindowSpec(
        model.default_window, model.default_min_context, model.default_min_context, causal=True
    )
    print(
        f"model {model.model_id}, d_model {model.d_model}, layer {args.layer}, "
        f"{args.threads} threads, window {spec.window}, overlap {spec.overlap}"
    )
    model.forward(np.frombuffer(b"ACGT" * 256, np.uint8)[None], [args.layer])  # warm-up

    batch_size = args.batch_size or model.default_batch_size
    if args.length:  # a slice of the first contig, both strands
        first = genome.names[0]
        genome = gi.io.Genome.from_sequences({first: genome.fetch(first, 0, args.length)})
    bare, stored = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "ecoli.h5"
        for _ in range(args.repeats):  # alternate: the machine's load drifts
            load = os.getloadavg()[0]
            t_bare, kept, read = bare_forward(model, genome, [args.layer], spec, batch_size)
            started = time.perf_counter()
            gi.acts.extract(
                genome,
                model,
                [args.layer],
                out,
                window=spec.window,
                min_context=spec.min_context,
                batch_size=batch_size,
                overwrite=True,
                progress=False,
            )
            t_store = time.perf_counter() - started
            bare.append(t_bare)
            stored.append(t_store)
            print(
                f"load {load:4.1f}: bare {t_bare:7.1f} s, extract {t_store:7.1f} s "
                f"({t_store / t_bare - 1:+.1%})"
            )
        size = os.path.getsize(out)
    t_bare, t_store = min(bare), min(stored)
    print(
        f"positions (both strands)      {kept:,}  (windows read {read:,}: "
        f"x{read / kept:.3f} for the overlap)"
    )
    print(f"bare forward (best)           {t_bare:8.1f} s  {kept / t_bare:10,.0f} positions/s")
    print(f"extract + store (best)        {t_store:8.1f} s  {kept / t_store:10,.0f} positions/s")
    print(f"store size                    {size / 1e9:.2f} GB")
    print(f"overhead of storing (best)    {t_store / t_bare - 1:+.1%}  (target <= 5%)")
    print(f"load average after            {os.getloadavg()}")
    first = genome.names[0]
    length = min(1 << 20, genome.lengths[first]) // spec.window * spec.window
    print(f"full model (10 blocks + head, logits), batch {batch_size}, on {length:,} nt of '+':")
    codes = np.asarray(genome.codes(first, 0, length)).reshape(-1, spec.window)
    started = time.perf_counter()
    for row in codes:
        model.forward(row[None], ["norm"])
    print(
        f"full forward                  {codes.size / (time.perf_counter() - started):10,.0f} nt/s"
    )


if __name__ == "__main__":
    main()
