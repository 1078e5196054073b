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
    demo.add_argument(
        "--sae-tokens",
        type=int,
        default=2_000_000,
        help="positions the demo SAE trains on (default 2,000,000)",
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Fetch the data set, build its concept tracks, export BED, extract activations,
    train and evaluate a TopK SAE.

    Later stages (alignment, ranking, report) join here as they are built; until then
    the demo says which stages it ran.
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
    print(f"[1/5] {dataset.name}: {genome}; {len(annotations):,} annotation rows")
    tracks = build(genome, dataset.manifest.catalog, annotations, progress=True)
    tracks.write(out / "concepts.h5")
    summary = tracks.summary()
    summary.to_csv(out / "concepts_summary.tsv", sep="\t", index=False)
    print(f"[2/5] built {len(tracks.concepts)} concept tracks -> {out / 'concepts.h5'}")
    beds = tracks.to_bed(out / "bed")
    print(f"[3/5] wrote {len(beds)} BED tracks -> {out / 'bed'}")
    print(summary[["concept", "elements", "bp_plus", "bp_minus"]].to_string(index=False))
    model = load_model("tiny")
    started = time.perf_counter()
    path = extract(genome, model, args.layer, out / "activations.h5", progress=not args.quiet)
    with ActivationStore(path) as store:
        rate = store.n_positions / (time.perf_counter() - started)
        print(
            f"[4/5] {model.model_id} layer {', '.join(store.layers)}: {store.n_positions:,} "
            f"positions x {store.d_model} (both strands, {rate:,.0f}/s) -> {path}"
        )
    _train_sae(path, out / "sae", args.sae_tokens, model, genome, progress=not args.quiet)
    print("Not built yet: features, align, rank, export, report (see `genointerp --help`).")
    return 0


def _train_sae(store: Path, out: Path, tokens: int, model, genome, progress: bool) -> None:
    from ..sae import DataConfig, OptimConfig, SAEConfig, SAETrainConfig, evaluate_sae, train_sae

    config = SAETrainConfig(
        sae=SAEConfig(architecture="topk", k=32, expansion_factor=16),
        data=DataConfig(store=str(store)),
        optim=OptimConfig(lr=1.6e-3),
        tokens=tokens,
    )
    train_sae(config, out, progress=progress)
    metrics = evaluate_sae(out, store, positions=131072, model=model, genome=genome, windows=8)
    print(
        f"[5/5] TopK SAE ({16 * model.d_model} features, k=32, {tokens:,} positions) -> {out}: "
        f"held-out FVU {metrics.fvu:.3f}, L0 {metrics.l0:.1f}, dead {metrics.dead_fraction:.1%}, "
        f"loss recovered {metrics.loss.fraction:.3f} "
        f"({metrics.loss.spliced:.3f} bits/nt spliced vs {metrics.loss.clean:.3f} clean, "
        f"{metrics.loss.zero:.3f} zero-ablated)"
    )
