"""``genointerp demo``: the main job on the built-in default (E. coli K-12)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)
JASPAR_MEME = "JASPAR2024_CORE_non-redundant_all_taxa.meme.gz"
DEMO_TESTS = 100  # per-feature null tests in the demo (the best 100 on validation)


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
    demo.add_argument(
        "--sae-expansion",
        type=int,
        default=16,
        help="SAE features per model dimension (default 16: 1,536 features for the tiny model)",
    )
    demo.add_argument(
        "--shifts", type=int, default=200, help="circular shifts for alignment p-values"
    )
    demo.add_argument(
        "--tests",
        type=int,
        default=DEMO_TESTS,
        help=f"per-feature significance tests, best on validation first (default {DEMO_TESTS})",
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Fetch the data set, build its concept tracks, export BED, extract activations,
    train and evaluate a TopK SAE, encode its features, align them with the concepts and
    rank them.  Exports and the report join here when they are built.
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
    print(f"[1/7] {dataset.name}: {genome}; {len(annotations):,} annotation rows")
    tracks = build(genome, dataset.manifest.catalog, annotations, progress=True)
    tracks.write(out / "concepts.h5")
    summary = tracks.summary()
    summary.to_csv(out / "concepts_summary.tsv", sep="\t", index=False)
    print(f"[2/7] built {len(tracks.concepts)} concept tracks -> {out / 'concepts.h5'}")
    beds = tracks.to_bed(out / "bed")
    print(f"[3/7] wrote {len(beds)} BED tracks -> {out / 'bed'}")
    print(summary[["concept", "elements", "bp_plus", "bp_minus"]].to_string(index=False))
    model = load_model("tiny")
    started = time.perf_counter()
    path = extract(genome, model, args.layer, out / "activations.h5", progress=not args.quiet)
    with ActivationStore(path) as store:
        rate = store.n_positions / (time.perf_counter() - started)
        print(
            f"[4/7] {model.model_id} layer {', '.join(store.layers)}: {store.n_positions:,} "
            f"positions x {store.d_model} (both strands, {rate:,.0f}/s) -> {path}"
        )
    _train_sae(
        path, out / "sae", args.sae_tokens, args.sae_expansion, model, genome, not args.quiet
    )
    _align_and_rank(out, path, tracks, genome, args, progress=not args.quiet)
    print("Not built yet: export, report (see `genointerp --help`).")
    return 0


def _align_and_rank(out: Path, store: Path, tracks, genome, args, progress: bool) -> None:
    import genointerp as gi

    features = gi.features.encode(
        store, out / "sae", out / "features.h5", tracks=tracks, progress=progress
    )
    result = gi.align.align(
        features, tracks, n_shifts=args.shifts, max_tests=args.tests, progress=progress
    )
    result.write(out / "alignment")
    best = result.concepts.sort_values("single_test_element_f1", ascending=False)
    print(
        f"[6/7] aligned {features.d_sae} features x {len(tracks.concepts)} concepts "
        f"(thresholds on validation blocks, scores on test blocks) -> {out / 'alignment'}"
    )
    from ._align import print_concepts

    print_concepts(best.head(10))
    sae, _ = gi.sae.load_sae(out / "sae")
    motifs = None
    try:
        motifs = gi.datasets.load("jaspar2024_core").path(JASPAR_MEME)
    except Exception as err:  # evidence without JASPAR matches is still useful
        log.warning("JASPAR motifs unavailable (%s); ranking without motif matches", err)
    catalog = gi.rank.rank(
        result,
        features,
        genome,
        tracks,
        motifs=motifs,
        decoder=sae.W_dec.detach().numpy(),
        progress=progress,
    )
    catalog.write(out / "catalog")
    counts = catalog.table["class"].value_counts()
    print(
        f"[7/7] ranked -> {out / 'catalog'} (catalog.h5ad for scanpy, TSVs, logos): "
        + ", ".join(f"{k} {counts.get(k, 0)}" for k in gi.rank.CLASSES)
    )


def _train_sae(
    store: Path, out: Path, tokens: int, expansion: int, model, genome, progress: bool
) -> None:
    from ..sae import DataConfig, OptimConfig, SAEConfig, SAETrainConfig, evaluate_sae, train_sae

    config = SAETrainConfig(
        sae=SAEConfig(architecture="topk", k=32, expansion_factor=expansion),
        data=DataConfig(store=str(store)),
        optim=OptimConfig(lr=1.6e-3),
        tokens=tokens,
    )
    train_sae(config, out, progress=progress)
    metrics = evaluate_sae(out, store, positions=131072, model=model, genome=genome, windows=8)
    print(
        f"[5/7] TopK SAE ({expansion * model.d_model:,} features, k=32, {tokens:,} positions) "
        f"-> {out}: "
        f"held-out FVU {metrics.fvu:.3f}, L0 {metrics.l0:.1f}, dead {metrics.dead_fraction:.1%}, "
        f"loss recovered {metrics.loss.fraction:.3f} "
        f"({metrics.loss.spliced:.3f} bits/nt spliced vs {metrics.loss.clean:.3f} clean, "
        f"{metrics.loss.zero:.3f} zero-ablated)"
    )
