"""Comparing feature PWMs with JASPAR: the built-in TOMTOM-style comparison against
memelite's TOMTOM, on the same queries and targets, in one run.

    python benchmarks/motif_compare.py --motifs JASPAR2024_CORE_non-redundant_all_taxa.meme.gz

Queries are PWMs from sites drawn from JASPAR motifs themselves (so each has a true best
target): ``--queries`` of them, 20 sites each, trimmed.  Prints each method's wall time per
query, how often its best target is the motif the sites came from, and the smallest p-value
it can report.  Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import genointerp as gi


def sampled_queries(motifs, n: int, rng) -> tuple[list[np.ndarray], list[int]]:
    """PWMs from 20 sites drawn from ``n`` random motifs of at least 8 columns."""
    long_enough = [i for i, m in enumerate(motifs) if len(m) >= 8]
    chosen = rng.choice(long_enough, size=n, replace=False)
    queries = []
    for i in chosen:
        pwm = motifs[i].pwm
        sites = [
            "".join("ACGT"[rng.choice(4, p=row / row.sum())] for row in pwm) for _ in range(20)
        ]
        core, _ = gi.rank.trim(gi.rank.pwm_from_sites(sites))
        queries.append(core)
    return queries, [int(i) for i in chosen]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--motifs", required=True, help="JASPAR MEME file")
    ap.add_argument("--queries", type=int, default=30)
    args = ap.parse_args()
    motifs = gi.rank.read_meme(args.motifs)
    rng = np.random.default_rng(0)
    queries, truth = sampled_queries(motifs, args.queries, rng)
    gi.rank.compare(queries[0], motifs[:30], method="memelite")  # compile numba once
    print(f"{len(queries)} queries x {len(motifs)} JASPAR motifs")
    results = {}
    for method in ("builtin", "memelite"):
        t = time.perf_counter()
        frames = [gi.rank.compare(q, motifs, method=method) for q in queries]
        seconds = time.perf_counter() - t
        ids = [m.id for m in motifs]
        right = sum(f.iloc[0]["id"] == ids[i] for f, i in zip(frames, truth, strict=True))
        smallest = min(float(f["p_value"].min()) for f in frames)
        results[method] = seconds
        print(
            f"{method:9s}: {seconds / len(queries):7.3f} s per query, best target right "
            f"{right}/{len(queries)}, smallest p {smallest:.2e}"
        )
    print(f"memelite is {results['builtin'] / results['memelite']:.1f}x faster")


if __name__ == "__main__":
    main()
