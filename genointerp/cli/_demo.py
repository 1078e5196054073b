"""``genointerp demo``: the main job on the built-in default (E. coli K-12)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub) -> None:
    demo = sub.add_parser(
        "demo", help="run every stage that is built on the E. coli demo and write the outputs"
    )
    demo.add_argument("--dataset", default="ecoli_k12", help="data set (default: ecoli_k12)")
    demo.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("genointerp_demo"),
        help="output folder (default: ./genointerp_demo)",
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Fetch the data set, build its concept tracks and export them as BED.

    Later stages (extract, SAE training, alignment, ranking, report) join here as
    they are built; until then the demo says which stages it ran.
    """
    from ..concepts import build
    from ..datasets import load

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    dataset = load(args.dataset, progress=True)
    genome = dataset.genome()
    annotations = dataset.annotation_table(genome, missing="skip")
    print(f"[1/3] {dataset.name}: {genome}; {len(annotations):,} annotation rows")
    tracks = build(genome, dataset.manifest.catalog, annotations, progress=True)
    tracks.write(out / "concepts.h5")
    summary = tracks.summary()
    summary.to_csv(out / "concepts_summary.tsv", sep="\t", index=False)
    print(f"[2/3] built {len(tracks.concepts)} concept tracks -> {out / 'concepts.h5'}")
    beds = tracks.to_bed(out / "bed")
    print(f"[3/3] wrote {len(beds)} BED tracks -> {out / 'bed'}")
    print(summary[["concept", "elements", "bp_plus", "bp_minus"]].to_string(index=False))
    print(
        "Not built yet: extract, sae train, align, rank, export, report (see `genointerp --help`)."
    )
    return 0
