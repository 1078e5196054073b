"""Streaming SAE training against extract-then-train: tokens/s and peak disk.

Usage::

    GENOINTERP_DATA_MIRROR=../shared/data python benchmarks/streaming.py \
        [--length 300000] [--epochs 1] [--layer blocks.5]

Both runs train the same TopK SAE (k 32, 16x, batch 4,096) with the built-in model on
the first ``--length`` nt of E. coli K-12, both strands, for ``--epochs`` passes over the
positions.  (a) ``gi.acts.extract`` writes the float16 store, then ``gi.sae.train_sae``
trains from it; (b) ``train_sae`` with ``data.source: model`` runs the model into the
shuffle buffer.  Tokens/s is training positions over the whole wall time (extraction
included for (a)); tokens per CPU-second divides by the process's CPU time instead (all
threads), which other jobs on a shared machine disturb less; peak disk is the largest
size of the run's folder, polled every 50 ms.  The modes alternate ``--repeats`` times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import torch

import genointerp as gi


class PeakDisk:
    """Largest total size of the files under ``folder`` while the ``with`` block runs."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak, self._stop = folder, 0, threading.Event()

    def _size(self) -> int:
        total = 0
        for root, _, files in os.walk(self.folder):
            for name in files:
                with contextlib.suppress(OSError):  # renamed or deleted meanwhile
                    total += os.path.getsize(os.path.join(root, name))
        return total

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._size())

    def __enter__(self) -> PeakDisk:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._size())


def sae_config(tokens: int, layer: str, data: gi.sae.DataConfig) -> gi.sae.SAETrainConfig:
    return gi.sae.SAETrainConfig(
        sae=gi.sae.SAEConfig(architecture="topk", k=32, expansion_factor=16),
        data=data,
        optim=gi.sae.OptimConfig(lr=1.6e-3, warmup_steps=10),
        tokens=tokens,
        eval_every=10**9,
        log_every=10,
        checkpoint_every=50,
    )


def measured(name: str, folder: Path, run) -> tuple:
    """Run ``run()`` in ``folder``: wall and CPU seconds, peak disk, held-out FVU, load."""
    folder.mkdir()
    load = os.getloadavg()[0]
    with PeakDisk(folder) as disk:
        wall, cpu = time.perf_counter(), time.process_time()
        extracted = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    fvu = json.loads((folder / "sae" / "metrics.json").read_text())["held_out"]["fvu"]
    return name, wall, cpu, extracted, disk.peak, fvu, load


def from_store(folder: Path, fasta: Path, tokens: int, args) -> tuple:
    def run() -> float:
        started = time.perf_counter()
        store = gi.acts.extract(fasta, "tiny", [args.layer], folder / "acts.h5", progress=False)
        extracted = time.perf_counter() - started
        data = gi.sae.DataConfig(store=str(store), batch_size=args.batch_size)
        gi.sae.train_sae(sae_config(tokens, args.layer, data), folder / "sae", progress=False)
        return extracted

    return measured("extract then train", folder, run)


def streamed(folder: Path, fasta: Path, tokens: int, args) -> tuple:
    stream = gi.sae.StreamConfig(genomes=[str(fasta)], model="tiny")
    data = gi.sae.DataConfig(
        source="model", layer=args.layer, stream=stream, batch_size=args.batch_size
    )

    def run() -> float:
        gi.sae.train_sae(sae_config(tokens, args.layer, data), folder / "sae", progress=False)
        return 0.0

    return measured("streamed", folder, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=300_000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--layer", default="blocks.5")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    ecoli = gi.datasets.load("ecoli_k12").genome()
    contig = ecoli.names[0]
    work = Path(tempfile.mkdtemp(prefix="genointerp-streaming-"))
    fasta = work / "ecoli_slice.fa"
    fasta.write_text(f">{contig}_slice\n{ecoli.fetch(contig, 0, args.length)}\n")
    tokens = int(args.epochs * 2 * args.length) // args.batch_size * args.batch_size
    print(f"uptime: {os.getloadavg()}  torch threads: {torch.get_num_threads()}")
    print(f"{args.length:,} nt x 2 strands, {tokens:,} training tokens, layer {args.layer}")
    rows = []
    for repeat in range(args.repeats):  # alternate the order: the machine's load drifts
        modes = [from_store, streamed] if repeat % 2 == 0 else [streamed, from_store]
        for mode in modes:
            rows.append(mode(work / f"{mode.__name__}-{repeat}", fasta, tokens, args))
    print("| mode | wall | of which extraction | tokens/s | tokens per CPU-s | peak disk | "
          "held-out FVU | load (1 min) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, wall, cpu, extracted, peak, fvu, load in rows:
        print(
            f"| {name} | {wall:.1f} s | {extracted:.1f} s | {tokens / wall:,.0f} | "
            f"{tokens / cpu:,.0f} | {peak / 1e6:.1f} MB | {fvu:.4f} | {load:.1f} |"
        )
    print(f"uptime after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
