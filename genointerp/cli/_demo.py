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
    demo.add_argument(
        "--baselines",
        action="store_true",
        help="also align the raw neurons and a linear probe per concept (RUN/baselines; the "
        "report compares them with the SAE; adds several minutes on E. coli)",
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Fetch the data set, build its concept tracks, export BED, extract activations,
    train and evaluate a TopK SAE, encode its features, align them with the concepts,
    rank them, export browser tracks and the viewer, and write the plots and the report.
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
    from .._rundir import write_run_info

    write_run_info(out, dataset=dataset.name, genome=str(dataset.path()))
    print(f"[1/9] {dataset.name}: {genome}; {len(annotations):,} annotation rows")
    tracks = build(genome, dataset.manifest.catalog, annotations, progress=True)
    tracks.write(out / "concepts.h5")
    summary = tracks.summary()
    summary.to_csv(out / "concepts_summary.tsv", sep="\t", index=False)
    print(f"[2/9] built {len(tracks.concepts)} concept tracks -> {out / 'concepts.h5'}")
    beds = tracks.to_bed(out / "bed")
    print(f"[3/9] wrote {len(beds)} BED tracks -> {out / 'bed'}")
    print(summary[["concept", "elements", "bp_plus", "bp_minus"]].to_string(index=False))
    model = load_model("tiny")
    started = time.perf_counter()
    path = extract(genome, model, args.layer, out / "activations.h5", progress=not args.quiet)
    with ActivationStore(path) as store:
        rate = store.n_positions / (time.perf_counter() - started)
        print(
            f"[4/9] {model.model_id} layer {', '.join(store.layers)}: {store.n_positions:,} "
            f"positions x {store.d_model} (both strands, {rate:,.0f}/s) -> {path}"
        )
    _train_sae(
        path, out / "sae", args.sae_tokens, args.sae_expansion, model, genome, not args.quiet
    )
    _align_and_rank(out, path, tracks, genome, args, progress=not args.quiet)
    if args.baselines:
        _baselines(out, path, tracks, args, progress=not args.quiet)
    _export_and_report(out, progress=not args.quiet)
    return 0


def _baselines(out: Path, store_path: Path, tracks, args, progress: bool) -> None:
    """Best single neuron and a logistic probe per concept, aligned like the SAE features."""
    import genointerp as gi

    from .._rundir import RunDir

    settings = {"n_shifts": args.shifts, "candidates": 1, "min_effect": 2.0, "progress": progress}
    with gi.acts.ActivationStore(store_path) as store:
        layer = store.layers[0]
        neurons = gi.align.align(gi.align.neurons(store, layer), tracks, **settings)
        folder = RunDir(out).place("baselines")
        neurons.write(folder / "neurons")
        split = gi.align.BlockSplit()
        probe = gi.align.probe(store, layer, tracks, split)
        gi.align.align(probe, tracks, split=split, own_feature=True, **settings).write(
            folder / "probe"
        )
    print(f"      baselines: best neuron and linear probe per concept -> {folder}")


def _export_and_report(out: Path, progress: bool) -> None:
    import genointerp as gi

    exported = gi.export.export_run(out, progress=progress)
    counts = exported.features["class"].value_counts()
    print(
        f"[8/9] exported {len(exported.features)} features ("
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; {exported.n_bytes / 1e6:,.0f} MB, {exported.seconds:.0f} s) -> {exported.folder} "
        "(BED, bigBed, bigWig, IGV session, UCSC hub, tracks.json)"
    )
    viewer = gi.view.write_viewer(out)
    report = gi.report.write_report(out)
    print(f"[9/9] plots and report -> {report.parent}")
    print(f"Genome viewer: genointerp view {out}   (serves {viewer.relative_to(out)} on localhost)")
    print(f"Report: {report}")


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
        f"[6/9] aligned {features.d_sae} features x {len(tracks.concepts)} concepts "
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
        f"[7/9] ranked -> {out / 'catalog'} (catalog.h5ad for scanpy, TSVs, logos): "
        + ", ".join(f"{k} {counts.get(k, 0)}" for k in gi.rank.CLASSES)
    )


def _train_sae(
    store: Path, out: Path, tokens: int, expansion: int, model, genome, progress: bool
) -> None:
    import json

    from .._atomic import atomic_open
    from ..sae import DataConfig, OptimConfig, SAEConfig, SAETrainConfig, evaluate_sae, train_sae

    config = SAETrainConfig(
        sae=SAEConfig(architecture="topk", k=32, expansion_factor=expansion),
        data=DataConfig(store=str(store)),
        optim=OptimConfig(lr=1.6e-3),
        tokens=tokens,
    )
    train_sae(config, out, progress=progress)
    metrics = evaluate_sae(out, store, positions=131072, model=model, genome=genome, windows=8)
    with atomic_open(out / "eval.json") as handle:  # read by the report
        json.dump(metrics.summary(), handle, indent=2)
    print(
        f"[5/9] TopK SAE ({expansion * model.d_model:,} features, k=32, {tokens:,} positions) "
        f"-> {out}: "
        f"held-out FVU {metrics.fvu:.3f}, L0 {metrics.l0:.1f}, dead {metrics.dead_fraction:.1%}, "
        f"loss recovered {metrics.loss.fraction:.3f} "
        f"({metrics.loss.spliced:.3f} bits/nt spliced vs {metrics.loss.clean:.3f} clean, "
        f"{metrics.loss.zero:.3f} zero-ablated)"
    )
