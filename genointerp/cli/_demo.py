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
    demo.add_argument("--layer", default=None, help="layer to extract (default: the middle block)")
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Fetch the data set, build its concept tracks, export BED, extract activations.

    Later stages (SAE training, alignment, ranking, report) join here as they are
    built; until then the demo says which stages it ran.
    """
    import time

    from ..acts import ActivationStore, extract
    from ..concepts import build
    from ..datasets import load
    from ..models import load_model

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    dataset = load(args.dataset, progress=True)
    genome = dataset.genome()
    annotations = dataset.annotation_table(genome, missing="skip")
    print(f"[1/4] {dataset.name}: {genome}; {len(annotations):,} annotation rows")
    tracks = build(genome, dataset.manifest.catalog, annotations, progress=True)
    tracks.write(out / "concepts.h5")
    summary = tracks.summary()
    summary.to_csv(out / "concepts_summary.tsv", sep="\t", index=False)
    print(f"[2/4] built {len(tracks.concepts)} concept tracks -> {out / 'concepts.h5'}")
    beds = tracks.to_bed(out / "bed")
    print(f"[3/4] wrote {len(beds)} BED tracks -> {out / 'bed'}")
    print(summary[["concept", "elements", "bp_plus", "bp_minus"]].to_string(index=False))
    model = load_model("tiny")
    started = time.perf_counter()
    path = extract(genome, model, args.layer, out / "activations.h5", progress=not args.quiet)
    with ActivationStore(path) as store:
        rate = store.n_positions / (time.perf_counter() - started)
        print(
            f"[4/4] {model.model_id} layer {', '.join(store.layers)}: {store.n_positions:,} "
            f"positions x {store.d_model} (both strands, {rate:,.0f}/s) -> {path}"
        )
    print(
        "Not built yet: sae train, features, align, rank, export, report (see `genointerp --help`)."
    )
    return 0
