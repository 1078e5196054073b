"""Alignment counting speed and memory: the streaming engine against the plain per-feature loop.

Usage::

    GENOINTERP_DATA_MIRROR=/work/shared/data python benchmarks/align.py \
        [--positions 4641652] [--features 32768] [--concepts 40] [--k 64] \
        [--peer-features 2] [--old-fraction 0.05] [--chunk-rows 262144]

The defaults are the size of Goodfire's Evo 2 SAE (32,768 features, k = 64) against 40
concepts.  Concept tracks are real: the E. coli K-12 tracks of the ``prokaryote``
catalog, built from the data mirror, keeping the ``--concepts`` concepts with the most
elements.  The catalog has 25 non-empty concepts; beyond those, the concepts with the
most elements are copied again, shifted by about a third of the genome (a multiple of 3,
so codon frames stay valid), as ``<name>_shifted`` (``_shifted2`` ...).
Activations are synthetic and TopK-like: ``k`` features per position (one from each of
``k`` equal groups of features, so they are distinct and sorted), float16 values in
``[2^-10, 8]``.  Feature ``f`` has a home concept ``f % concepts``: inside it, a quarter
of a position's picks go to home features, with doubled values, so counts differ by
concept, feature and threshold.  The first 128 positions of the first contig's '+'
strand give every feature the value 8, so the per-feature max (the scale the threshold
fractions apply to) is exactly 8 and known before counting.

All chunks are generated into memory first (about 4 bytes per non-zero), so the timings
are the counting engine alone; generation time is printed on its own.  The engine is
timed on the first half of the genome and on all of it, with the peak memory it added
(``VmHWM`` reset through ``/proc/self/clear_refs``, minus ``VmRSS`` before), to show
memory is set by the chunk size, not the genome size.  The plain reference
(``genointerp.align._reference.reference_counts``: one feature, one threshold, one
concept at a time, InterPLM's ``compare_activations`` style) runs on ``--peer-features``
features of the same data; its time per feature is extrapolated to all features, and its
counts must equal the engine's (exit status 1 if not).  With ``--old-fraction`` the
engine as it was before the compiled kernels (``benchmarks/_align_before.py``) and the
current one count the same prefix of the genome in the same run; every count array must
be equal (exit status 1 if not).  The load average is printed at the start and the end,
since the development machine is shared.  Timing figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

import genointerp as gi
from genointerp.align import DEFAULT_FRACTIONS, BlockSplit
from genointerp.align._reference import reference_counts
from genointerp.features import Chunk

CAP = 8.0  # largest activation value; every feature reaches it (see SyntheticSource)
FLOOR = 2.0**-10  # smallest value, so nothing rounds to 0 in float16
HOME_SHARE = 0.25  # share of picks that go to home features inside their concept
TARGET_SECONDS = 60.0  # target: the whole genome, 32,768 features (k = 64), 40 concepts


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- memory ------------------------------------------------------------------------------
def status_kib(key: str) -> int:
    """A ``/proc/self/status`` figure (``VmRSS``, ``VmHWM``) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


# -- tracks ------------------------------------------------------------------------------
def load_tracks(n_concepts: int):
    """E. coli K-12 concept tracks and the ``n_concepts`` concepts with the most elements
    (shifted copies of the largest ones beyond the catalog's non-empty concepts)."""
    tracks = gi.concepts.build("ecoli_k12", "prokaryote")
    per_concept = tracks.intervals.groupby("Concept", sort=False)["Element"].nunique()
    order = sorted(tracks.concepts, key=lambda c: -per_concept.get(c, 0))  # stable: catalog
    order = [c for c in order if per_concept.get(c, 0) > 0]
    if n_concepts > len(order):
        tracks = with_shifted_copies(tracks, order, n_concepts - len(order))
        per_concept = tracks.intervals.groupby("Concept", sort=False)["Element"].nunique()
        order = sorted(tracks.concepts, key=lambda c: -per_concept.get(c, 0))
    concepts = order[:n_concepts]
    return tracks, concepts, {c: int(per_concept.get(c, 0)) for c in concepts}


def with_shifted_copies(tracks, order: list[str], n_extra: int):
    """``tracks`` plus ``n_extra`` copies of its largest concepts, moved along each contig
    by a third of its length (rounded to a multiple of 3); parts past the end are dropped."""
    import dataclasses

    import pandas as pd

    specs, tables = list(tracks.specs), [tracks.intervals]
    for i in range(n_extra):
        source = order[i % len(order)]
        name = f"{source}_shifted" + (str(i // len(order) + 1) if i >= len(order) else "")
        specs.append(dataclasses.replace(tracks.spec(source), name=name))
        parts = tracks.intervals[tracks.intervals["Concept"] == source].copy()
        length = parts["Chromosome"].map(tracks.lengths)
        shift = 3 * ((length // 3) // 3) * (i // len(order) + 1)
        start = (parts["Start"] + shift) % length
        parts["End"] = start + (parts["End"] - parts["Start"])
        parts["Start"] = start
        parts["Concept"] = name
        parts["Element"] = name + ":" + parts["Element"].astype(str)
        tables.append(parts[parts["End"] <= length])
    intervals = pd.concat(tables, ignore_index=True)
    return gi.concepts.ConceptTracks(
        specs, intervals, tracks.lengths, genome_checksum=tracks.genome_checksum
    )


# -- sources -----------------------------------------------------------------------------
class SyntheticSource:
    """TopK-like sparse activations made chunk by chunk, deterministic per chunk.

    ``k`` groups of features ``[bounds[j], bounds[j + 1])``; each position takes one
    feature from every group, so its ``k`` features are distinct and already sorted.
    """

    def __init__(self, tracks, concepts, length: int, n_features: int, k: int, seed: int = 0):
        if n_features < k:
            raise SystemExit(f"--features {n_features} must be at least --k {k}")
        self.tracks, self.concepts, self.k, self.seed = tracks, list(concepts), k, seed
        self.n_features = n_features
        self.strands = ["+", "-"]
        self.genome_checksum = ""
        self.contigs = {}
        left = length
        for contig, size in tracks.lengths.items():
            if left > 0:
                self.contigs[contig] = min(size, left)
                left -= self.contigs[contig]
        self.bounds = (np.arange(k + 1) * n_features) // k
        self.anchor_rows = int(np.diff(self.bounds).max())
        if next(iter(self.contigs.values())) < self.anchor_rows:
            raise SystemExit(f"--positions must be at least {self.anchor_rows}")

    @property
    def n_positions(self) -> int:
        return sum(self.contigs.values()) * len(self.strands)

    def scale(self) -> np.ndarray:
        """Per-feature max: exactly ``CAP`` (the anchor rows give every feature that value)."""
        return np.full(self.n_features, CAP, dtype=np.float32)

    def chunks(self, rows: int = 1 << 20) -> Iterator[Chunk]:
        for i, (contig, length) in enumerate(self.contigs.items()):
            for strand in self.strands:
                for start in range(0, length, rows):
                    yield self.make(i, contig, strand, start, min(start + rows, length))

    def make(self, index: int, contig: str, strand: str, start: int, end: int) -> Chunk:
        n, k, n_c = end - start, self.k, len(self.concepts)
        rng = np.random.default_rng([self.seed, index, self.strands.index(strand), start])
        lo, size = self.bounds[:-1], np.diff(self.bounds)  # (k,)
        picks = lo + (rng.random((n, k)) * size).astype(np.int64)  # (n, k) uniform per group
        values = rng.exponential(1.0, (n, k))
        masks = self.tracks.mask(contig, strand, start, end, self.concepts)  # (C, n)
        home = np.argmax(masks.T * rng.random((n, n_c)), axis=1)  # a concept present, per row
        offset = (home[:, None] - lo[None, :]) % n_c  # first home feature of each group
        room = (size[None, :] - offset + n_c - 1) // n_c  # home features in each group
        biased = masks.any(0)[:, None] & (rng.random((n, k)) < HOME_SHARE) & (room > 0)
        home_pick = lo + offset + n_c * (rng.random((n, k)) * room).astype(np.int64)
        picks = np.where(biased, home_pick, picks)
        values = np.where(biased, 2 * values, values)
        if index == 0 and strand == "+" and start < self.anchor_rows:
            r = np.arange(min(end, self.anchor_rows) - start)  # rows of the anchor positions
            picks[r] = lo + (start + r)[:, None] % size
            values[r] = CAP
        dtype = np.uint16 if self.n_features <= 1 << 16 else np.int32
        return Chunk(
            contig,
            strand,
            start,
            end,
            np.arange(n + 1, dtype=np.int64) * k,
            picks.astype(dtype).ravel(),
            np.clip(values, FLOOR, CAP).astype(np.float16).ravel(),
        )


@dataclass
class MemorySource:
    """Sparse chunks held in memory, optionally only a prefix of each contig."""

    chunk_list: list[Chunk]
    contigs: dict[str, int]
    strands: list[str]
    n_features: int
    full_scale: np.ndarray
    rows: int
    genome_checksum: str = ""

    @classmethod
    def generate(cls, source: SyntheticSource, rows: int) -> MemorySource:
        return cls(
            list(source.chunks(rows)),
            dict(source.contigs),
            source.strands,
            source.n_features,
            source.scale(),
            rows,
        )

    @property
    def n_positions(self) -> int:
        return sum(self.contigs.values()) * len(self.strands)

    @property
    def nbytes(self) -> int:
        return sum(c.indices.nbytes + c.values.nbytes for c in self.chunk_list)

    def scale(self) -> np.ndarray:
        return self.full_scale

    def prefix(self, fraction: float) -> MemorySource:
        contigs = {c: max(int(n * fraction), 1) for c, n in self.contigs.items()}
        return MemorySource(
            self.chunk_list, contigs, self.strands, self.n_features, self.full_scale, self.rows
        )

    def chunks(self, rows: int = 1 << 20) -> Iterator[Chunk]:
        if rows != self.rows:
            raise ValueError(f"chunks were generated with {self.rows} rows, not {rows}")
        for chunk in self.chunk_list:
            if chunk.start < self.contigs[chunk.contig]:
                yield self.chunk(chunk.contig, chunk.strand, chunk.start, chunk.end)

    def chunk(self, contig: str, strand: str, start: int, end: int) -> Chunk:
        """One generated chunk (``start`` on the grid of ``rows``), cut at the prefix."""
        if start % self.rows or end - start > self.rows:
            raise ValueError(f"chunks were generated on a grid of {self.rows} rows")
        if not hasattr(self, "_index"):
            self._index = {(c.contig, c.strand, c.start): c for c in self.chunk_list}
        chunk = self._index[contig, strand, start]
        end = min(end, chunk.end, self.contigs[contig])
        n = chunk.indptr[end - start]
        return Chunk(
            contig,
            strand,
            start,
            end,
            chunk.indptr[: end - start + 1],
            chunk.indices[:n],
            chunk.values[:n],
        )


# -- engine --------------------------------------------------------------------------------
def cpu_seconds() -> float:
    """CPU time of this process so far (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_engine(source: MemorySource, tracks, concepts, split, rows: int):
    """Counts, seconds, peak memory added by counting (KiB, None if unmeasurable), CPU s."""
    reset = reset_peak()
    before = status_kib("VmRSS")
    cpu = cpu_seconds()
    started = time.perf_counter()
    counts = gi.align.count(source, tracks, split=split, concepts=concepts, chunk_rows=rows)
    seconds = time.perf_counter() - started
    added = status_kib("VmHWM") - before if reset else None
    return counts, seconds, added, cpu_seconds() - cpu


# -- the engine before the compiled kernels ------------------------------------------------
def compare_with_old(args, source: MemorySource, tracks, concepts, split) -> list[str]:
    """Time the old and the current engine on the same prefix; the arrays that differ."""
    from _align_before import count as old_count

    part = source.prefix(args.old_fraction)
    print(f"\nold and current engine on {part.n_positions:,} positions ...", flush=True)
    gi.align.count(part.prefix(0.01), tracks, split=split, concepts=concepts)  # compile
    timings, results = {}, {}
    for name, fn in (("old", old_count), ("current", gi.align.count)):
        reset = reset_peak()
        before = status_kib("VmRSS")
        cpu = cpu_seconds()
        started = time.perf_counter()
        results[name] = fn(part, tracks, split=split, concepts=concepts, chunk_rows=args.chunk_rows)
        timings[name] = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
        added = mib(status_kib("VmHWM") - before) if reset else "n/a"
        rate = part.n_positions / timings[name]
        print(f"  {name:8s} {timings[name]:7.1f} s ({cpu:.1f} CPU s), {rate:9,.0f} positions/s, "
              f"peak added {added}")  # fmt: skip
    old, new = results["old"], results["current"]
    different = [
        name
        for name in ("tp", "active", "element_best", "positives", "elements", "positions")
        if not np.array_equal(getattr(old, name), getattr(new, name))
    ]
    print(f"  speed-up {timings['old'] / timings['current']:.1f}x; identical counts (tp, active, "
          f"element_best, positives, elements, positions): "
          f"{'no: ' + ', '.join(different) if different else 'yes'}; {load()}")  # fmt: skip
    del results, old, new
    return different


# -- peer ----------------------------------------------------------------------------------
def dense_subset(source: MemorySource, features: np.ndarray) -> dict:
    """Dense float32 ``{(contig, strand): (length, len(features))}`` of some features."""
    column = np.full(source.n_features, -1, dtype=np.int64)
    column[features] = np.arange(len(features))
    dense = {
        (c, s): np.zeros((n, len(features)), dtype=np.float32)
        for c, n in source.contigs.items()
        for s in source.strands
    }
    for chunk in source.chunks(source.rows):
        col = column[chunk.indices]
        keep = col >= 0
        rows = chunk.start + chunk.rows[keep]
        dense[(chunk.contig, chunk.strand)][rows, col[keep]] = chunk.values[keep]
    return dense


def run_peer(source: MemorySource, tracks, concepts, split, features: np.ndarray):
    """Reference counts of ``features``, its fixed seconds and its seconds per feature."""
    dense = dense_subset(source, features)
    scale = source.scale()[features]
    empty = {key: a[:, :0] for key, a in dense.items()}
    started = time.perf_counter()
    reference_counts(empty, tracks, scale[:0], DEFAULT_FRACTIONS, split, concepts)
    fixed = time.perf_counter() - started  # positives and elements: paid once
    started = time.perf_counter()
    ref = reference_counts(dense, tracks, scale, DEFAULT_FRACTIONS, split, concepts)
    seconds = time.perf_counter() - started
    return ref, fixed, max(seconds - fixed, 0.0) / len(features)


def differences(counts, ref, features: np.ndarray, split, concepts) -> list[str]:
    """Every way the engine's counts of ``features`` differ from the reference's."""
    found = []
    for name, ours, theirs in (
        ("positives", counts.positives, ref["positives"]),
        ("elements", counts.elements, ref["elements"]),
    ):
        if not np.array_equal(ours, theirs):
            found.append(f"{name}: engine {ours.tolist()} reference {theirs.tolist()}")
    for s, split_name in enumerate(split.names):
        at = counts.at_least(split_name, DEFAULT_FRACTIONS)
        for key in ("tp", "active", "hits"):
            ours = at[key][..., features, :]
            theirs = ref[key][s]
            if np.array_equal(ours, theirs):
                continue
            where = np.argwhere(ours != theirs)
            found.append(f"{key} [{split_name}]: {len(where)} of {ours.size} entries differ")
            for idx in where[:5]:
                *c, f, t = idx
                label = f"concept {concepts[c[0]]}, " if c else ""
                found.append(
                    f"    {label}feature {features[f]}, threshold {DEFAULT_FRACTIONS[t]}: "
                    f"engine {ours[tuple(idx)]} reference {theirs[tuple(idx)]}"
                )
    return found


def compare_with_peer(args, source, tracks, concepts, split, counts):
    """Run the plain reference on a few features; its differences and extrapolated seconds."""
    picks = np.linspace(0, args.features - 1, args.peer_features).astype(np.int64)
    features = np.unique(picks)
    print(f"\nplain reference on features {features.tolist()} ...", flush=True)
    ref, fixed, per_feature = run_peer(source, tracks, concepts, split, features)
    peer_seconds = fixed + per_feature * args.features
    print(f"reference: {fixed:.1f} s once + {per_feature:.1f} s per feature; "
          f"{args.features:,} features extrapolated: {peer_seconds:,.0f} s")  # fmt: skip
    found = differences(counts, ref, features, split, concepts)
    print(f"identical counts ({len(features)} features x {len(concepts)} concepts x "
          f"{len(DEFAULT_FRACTIONS)} thresholds x {len(split.names)} splits; tp, active, hits, "
          f"positives, elements): {'no' if found else 'yes'}")  # fmt: skip
    for line in found:
        print("  " + line)
    return found, peer_seconds


# -- report --------------------------------------------------------------------------------
def print_sizes(runs) -> None:
    print(f"\n{'genome':>8}{'positions':>13}{'seconds':>9}{'CPU s':>8}{'positions/s':>13}"
          f"{'peak added':>13}")  # fmt: skip
    for fraction, positions, seconds, added, cpu in runs:
        memory = mib(added) if added is not None else "n/a"
        print(f"{fraction:>8.0%}{positions:>13,}{seconds:>9.1f}{cpu:>8.1f}"
              f"{positions / seconds:>13,.0f}{memory:>13}")  # fmt: skip


def print_summary(args, positions, n_concepts, seconds, added, peer_seconds) -> None:
    head = (
        *("positions", "features", "concepts", "thresholds", "seconds", "positions/s"),
        *("peak added", "peer s (extrap.)", "speed-up"),
    )
    widths = (12, 10, 10, 12, 9, 13, 12, 18, 10)
    print("\n" + "".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    row = (
        f"{positions:,}",
        f"{args.features:,}",
        n_concepts,
        len(DEFAULT_FRACTIONS),
        f"{seconds:.1f}",
        f"{positions / seconds:,.0f}",
        mib(added) if added is not None else "n/a",
        f"{peer_seconds:,.0f}" if peer_seconds else "not run",
        f"{peer_seconds / seconds:,.0f}x" if peer_seconds else "n/a",
    )
    print("".join(f"{v:>{w}}" for v, w in zip(row, widths, strict=True)))


def print_signal(counts, n_features: int) -> None:
    """Precision of features in their home concept against other concepts (test split)."""
    at = counts.at_least(counts.splits[-1], (0.0, 0.5))
    n_c = len(counts.concepts)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = at["tp"] / at["active"][None]  # (C, F, T)
    home = np.arange(n_features) % n_c
    mine = precision[home, np.arange(n_features)]  # (F, T)
    others = (precision.sum(0) - mine) / (n_c - 1)
    print(f"synthetic signal ({counts.splits[-1]} split, mean over features): precision in the "
          f"home concept {np.nanmean(mine[:, 0]):.3f} (> 0) / {np.nanmean(mine[:, 1]):.3f} "
          f"(>= 0.5 of max), in other concepts {np.nanmean(others[:, 0]):.3f} / "
          f"{np.nanmean(others[:, 1]):.3f}")  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--positions", type=int, default=None, help="genome length per strand (default: whole)"
    )
    parser.add_argument("--features", type=int, default=32768)
    parser.add_argument("--concepts", type=int, default=40)
    parser.add_argument("--k", type=int, default=64, help="active features per position")
    parser.add_argument("--peer-features", type=int, default=2, help="0: skip the plain reference")
    parser.add_argument(
        "--old-fraction",
        type=float,
        default=0.05,
        help="genome fraction both engines count in the same run (0: skip the old engine)",
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=1 << 18, help="engine chunk (its default)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"numpy {np.__version__}, genointerp {gi.__version__}, {cores} cores available, "
          f"{load()}")  # fmt: skip
    tracks, concepts, n_elements = load_tracks(args.concepts)
    print(f"{len(concepts)} concepts with the most elements (of {len(tracks.concepts)}):")
    print("  " + ", ".join(f"{c} ({n_elements[c]:,})" for c in concepts))
    genome = sum(tracks.lengths.values())
    synthetic = SyntheticSource(
        tracks, concepts, args.positions or genome, args.features, args.k, args.seed
    )
    started = time.perf_counter()
    source = MemorySource.generate(synthetic, args.chunk_rows)
    print(f"synthetic activations: {source.n_positions:,} positions x k {args.k} generated in "
          f"{time.perf_counter() - started:.1f} s ({source.nbytes / 2**20:,.0f} MiB in memory; "
          "not part of the timings below)")  # fmt: skip
    split = BlockSplit()
    different = []
    if args.old_fraction > 0:
        different = compare_with_old(args, source, tracks, concepts, split)
    runs = []
    for fraction in (0.5, 1.0):
        part = source.prefix(fraction)
        counts, seconds, added, cpu = run_engine(part, tracks, concepts, split, args.chunk_rows)
        runs.append((fraction, part.n_positions, seconds, added, cpu))
    print_sizes(runs)
    print_signal(counts, args.features)
    found, peer_seconds = [], 0.0
    if args.peer_features > 0:
        found, peer_seconds = compare_with_peer(args, source, tracks, concepts, split, counts)
    _, positions, seconds, added, _ = runs[-1]
    print_summary(args, positions, len(concepts), seconds, added, peer_seconds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"process peak RSS {mib(peak)} (tracks, in-memory activations, reference's dense "
        "arrays included); 'peak added' is what counting added on top"
    )
    whole = positions == 2 * genome and args.features == 32768 and len(concepts) == 40
    verdict = ("met" if seconds < TARGET_SECONDS else "NOT met") if whole else "not applicable"
    print(f"target: whole genome, both strands x 32,768 features (k = 64) x 40 concepts in "
          f"under {TARGET_SECONDS:.0f} s: {verdict} ({seconds:.1f} s on {cores} cores); "
          f"{load()}")  # fmt: skip
    if found or different:
        sys.exit(1)


if __name__ == "__main__":
    main()
