"""A small run config for the pipeline's tests: a synthetic two-contig genome with a GFF3,
the shipped built-in model, a small TopK SAE and fast alignment settings (seconds per stage)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.builders import random_sequence
from tests.run_fixture import LENGTHS, _gff3

SMALL = {
    "output": "run",
    "extract": {"model": "tiny", "layer": "blocks.3"},
    "sae": {
        "train": {
            "sae": {"architecture": "topk", "k": 8, "d_sae": 64},
            "data": {"batch_size": 1024, "buffer_batches": 4, "eval_tokens": 2048},
            "optim": {"lr": 0.002, "warmup_steps": 4},
            "tokens": 16384,
            "log_every": 4,
            "eval_every": 8,
            "checkpoint_every": 4,
        },
        "evaluate": {"positions": 4096, "windows": 1},
    },
    "align": {"block": 1500, "n_shifts": 20, "max_tests": 5},
    "rank": {"motifs": ""},
    "export": {"n_known": 3, "n_novel": 3},
}


def write_genome(folder: Path, name: str = "small", seed: int = 7) -> dict:
    """A FASTA and GFF3 in ``folder``; returns the genome's config entry."""
    folder.mkdir(parents=True, exist_ok=True)
    sequences = {c: random_sequence(n, seed=i + seed) for i, (c, n) in enumerate(LENGTHS.items())}
    fasta, gff = folder / f"{name}.fa", folder / f"{name}.gff3"
    fasta.write_text("".join(f">{c}\n{s}\n" for c, s in sequences.items()))
    gff.write_text(_gff3([]))
    return {
        "name": name,
        "sequence": fasta.name,
        "annotations": [gff.name],
        "catalog": "prokaryote",
    }


def write_config(folder: Path, genomes: int = 1, **sections) -> Path:
    """``folder/run.yaml`` for ``genomes`` synthetic genomes (the last held out when > 1)."""
    entries = [write_genome(folder, f"g{i}", seed=7 + 10 * i) for i in range(genomes)]
    if genomes > 1:
        entries[-1]["heldout"] = True
    config = {"genomes": entries, **SMALL, **sections}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
