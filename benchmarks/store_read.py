"""Read speed of an activation store: random chunks (SAE training) and genome regions.

Usage::

    python benchmarks/store_read.py STORE.h5 [--layer blocks.5] [--chunks 300]

Prints MB/s and positions/s for reading whole chunks in random order and for reading
random 10 kb regions, from the store written by ``genointerp extract`` (for example
``genointerp_demo/activations.h5`` after the demo).  The first pass reads from disk
unless the file is in the page cache; both passes are printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import genointerp as gi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--layer", default=None)
    parser.add_argument("--chunks", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with gi.acts.ActivationStore(args.store) as store:
        layer = args.layer or store.layers[0]
        chunks = store.chunks(layer)
        picks = rng.choice(len(chunks), size=min(args.chunks, len(chunks)), replace=False)
        for attempt in ("first pass", "second pass"):
            started, rows, nbytes = time.perf_counter(), 0, 0
            for i in picks:
                contig, strand, start, end = chunks[i]
                x = store.read(layer, contig, strand, start, end)
                rows, nbytes = rows + len(x), nbytes + x.nbytes
            seconds = time.perf_counter() - started
            print(
                f"random chunks, {attempt}: {len(picks)} x {chunks[0][3] - chunks[0][2]} rows, "
                f"{nbytes / seconds / 1e6:,.0f} MB/s, {rows / seconds:,.0f} positions/s"
            )
        lengths = store.contigs
        started, rows = time.perf_counter(), 0
        for _ in range(200):
            contig = list(lengths)[int(rng.integers(len(lengths)))]
            start = int(rng.integers(0, max(lengths[contig] - 10_000, 1)))
            rows += len(store.read(layer, contig, "+", start, start + 10_000))
        seconds = time.perf_counter() - started
        rate = rows / seconds
        print(f"random 10 kb regions: {200 / seconds:,.0f} regions/s, {rate:,.0f} positions/s")


if __name__ == "__main__":
    main()
