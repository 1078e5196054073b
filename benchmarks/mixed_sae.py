"""The demo SAE beside the mixed-species SAE: FVU, L0, dead and dense fractions and loss
recovered, on E. coli and on S. pyogenes (never seen by the model or either SAE).

    genointerp sae train --config benchmarks/configs/mixed_sae.yaml -o mixed_sae
    genointerp extract --dataset ecoli_k12 --layers blocks.8 -o ecoli.blocks8.h5
    genointerp extract --dataset streptococcus_pyogenes_m1 --layers blocks.8 -o spyo.blocks8.h5
    python benchmarks/mixed_sae.py \
        --sae demo=genointerp_demo/sae:genointerp_demo/activations.h5:spyo.blocks5.h5 \
        --sae mixed=mixed_sae:ecoli.blocks8.h5:spyo.blocks8.h5 --out mixed_sae.tsv

Each ``--sae`` is ``name=sae_dir:ecoli_store:other_store``; the stores hold the SAE's layer.
The E. coli scores read the first positions of the store (``--positions``), which the demo
SAE trained on except for its held-out chunks and the mixed SAE may have streamed: the
S. pyogenes column is the fair comparison.  Loss recovered splices each SAE's reconstruction
into the model at its layer on ``--windows`` random 4,096-nt windows of each genome.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

import genointerp as gi

GENOMES = {"E. coli": "ecoli_k12", "S. pyogenes": "streptococcus_pyogenes_m1"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sae", action="append", required=True, help="name=sae_dir:ecoli:other")
    ap.add_argument("--positions", type=int, default=1_000_000)
    ap.add_argument("--windows", type=int, default=32)
    ap.add_argument("--out", type=Path, default=Path("mixed_sae.tsv"))
    args = ap.parse_args()
    rows = []
    for spec in args.sae:
        name, paths = spec.split("=", 1)
        sae_dir, *stores = paths.split(":")
        rows += score(name, Path(sae_dir), stores, args)
    table = pd.DataFrame(rows)
    table.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    print(table.to_markdown(index=False, floatfmt=".4f"))


def score(name: str, sae_dir: Path, stores: list[str], args) -> list[dict]:
    sae, provenance = gi.sae.load_sae(sae_dir)
    model = gi.models.load_model("tiny", weights_for(provenance))
    trained = json.loads((sae_dir / "metrics.json").read_text())["held_out"]
    rows = []
    for (genome_name, dataset), store in zip(GENOMES.items(), stores, strict=True):
        metrics = gi.sae.evaluate_sae(
            sae,
            store,
            provenance=provenance,
            positions=args.positions,
            held_out_only=False,
            model=model,
            genome=gi.datasets.load(dataset).genome(),
            windows=args.windows,
        )
        loss = metrics.loss
        rows.append(
            {
                "sae": name,
                "layer": provenance.layer,
                "features": sae.d_sae,
                "trained_on": provenance.store,
                "genome": genome_name,
                "fvu": metrics.fvu,
                "l0": metrics.l0,
                "dead": metrics.dead_fraction,
                "dense": metrics.dense_fraction,
                "bits_clean": loss.clean,
                "bits_spliced": loss.spliced,
                "bits_zero": loss.zero,
                "loss_recovered": loss.fraction,
                "held_out_fvu_at_training": trained["fvu"],
                "held_out_dead_at_training": trained["dead_fraction"],
            }
        )
        print(rows[-1], flush=True)
    return rows


def weights_for(provenance) -> str | None:
    """The built-in model's shipped version named in the model id (``tiny:genointerp-tiny-v2``)."""
    version = provenance.model_id.rsplit("-", 1)[-1]
    return version if version.startswith("v") else None


if __name__ == "__main__":
    main()
