"""``genointerp features encode``, ``genointerp align`` and ``genointerp rank``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    features = sub.add_parser("features", help="encode sparse feature activations per position")
    verbs = features.add_subparsers(dest="verb", metavar="VERB", required=True)
    encode = verbs.add_parser("encode", help="run an SAE over an activation store (resumable)")
    encode.add_argument("--store", type=Path, required=True, help="activation store (.h5)")
    encode.add_argument("--sae", type=Path, required=True, help="SAE directory")
    encode.add_argument("--layer", help="store layer (default: the SAE's)")
    encode.add_argument("--tracks", type=Path, help="concept tracks (.h5): adds codon phase")
    encode.add_argument("--device", default="cpu")
    encode.add_argument("-o", "--output", type=Path, required=True, help="output .h5")
    encode.set_defaults(handler=_encode)

    align = sub.add_parser("align", help="score every SAE feature against every concept")
    source = align.add_mutually_exclusive_group(required=True)
    source.add_argument("--features", type=Path, help="feature activations (features encode)")
    source.add_argument("--neurons", type=Path, help="baseline: single neurons of this store")
    source.add_argument("--probe", type=Path, help="baseline: logistic probes on this store")
    align.add_argument("--layer", help="store layer for --neurons / --probe")
    align.add_argument("--tracks", type=Path, required=True, help="concept tracks (.h5)")
    align.add_argument("--concepts", help="comma-separated subset of concepts")
    align.add_argument(
        "--block",
        type=int,
        default=100_000,
        help="validation/test blocks of this many nt (default 100000)",
    )
    align.add_argument(
        "--fractions",
        default="0,0.15,0.3,0.5,0.6,0.8",
        help="thresholds as fractions of each feature's max",
    )
    align.add_argument("--metric", default="element_f1", help="element_f1 (default) or f1")
    align.add_argument("--shifts", type=int, default=1000, help="circular shifts for p-values")
    align.add_argument(
        "--feature-shifts",
        type=int,
        default=None,
        help="circular shifts for the per-feature tests (default: --shifts)",
    )
    align.add_argument(
        "--max-tests", type=int, default=None, help="test at most this many per-feature matches"
    )
    align.add_argument(
        "--min-effect",
        type=float,
        default=0.5,
        help="test best matches whose validation score reaches this",
    )
    align.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    align.set_defaults(handler=_align)

    rank = sub.add_parser("rank", help="rank features into known and candidate novel concepts")
    rank.add_argument("--alignment", type=Path, required=True, help="folder from 'align'")
    rank.add_argument("--features", type=Path, required=True, help="the aligned features")
    rank.add_argument("--tracks", type=Path, required=True, help="concept tracks (.h5)")
    genome = rank.add_mutually_exclusive_group(required=True)
    genome.add_argument("--dataset", help="data set whose genome was encoded")
    genome.add_argument("--genome", type=Path, help="genome file that was encoded")
    rank.add_argument(
        "--motifs",
        default="jaspar2024_core",
        help="motifs compared with the features' logos, and the background of the comparison "
        "with motif concepts: a MEME file or a data set name (default: jaspar2024_core); "
        "'' for none",
    )
    rank.add_argument("--sae", type=Path, help="SAE directory: decoder directions in obsm")
    rank.add_argument("--known-f1", type=float, default=0.5)
    rank.add_argument("--alpha", type=float, default=0.05)
    rank.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    rank.set_defaults(handler=_rank)


def _encode(args: argparse.Namespace) -> int:
    import genointerp as gi

    tracks = gi.concepts.ConceptTracks.read(args.tracks) if args.tracks else None
    fa = gi.features.encode(
        args.store,
        args.sae,
        args.output,
        layer=args.layer,
        tracks=tracks,
        device=args.device,
        progress=True,
    )
    table = fa.stats.table()
    print(
        f"wrote {args.output}: {fa.d_sae} features, {fa.n_positions:,} positions, "
        f"{(table['density'] > 0).sum()} alive; shapes: "
        + ", ".join(f"{k} {v}" for k, v in table["shape"].value_counts().items())
    )
    return 0


def _align(args: argparse.Namespace) -> int:
    import genointerp as gi

    tracks = gi.concepts.ConceptTracks.read(args.tracks)
    split = gi.align.BlockSplit(block=args.block)
    concepts = args.concepts.split(",") if args.concepts else None
    if args.features:
        source = gi.features.FeatureActivations(args.features)
    else:
        store = gi.acts.ActivationStore(args.neurons or args.probe)
        layer = args.layer or store.layers[0]
        if args.neurons:
            source = gi.align.neurons(store, layer)
        else:
            source = gi.align.probe(store, layer, tracks, split, concepts=concepts)
    fractions = [float(x) for x in args.fractions.split(",")]
    result = gi.align.align(
        source,
        tracks,
        split=split,
        concepts=concepts,
        fractions=fractions,
        metric=args.metric,
        n_shifts=args.shifts,
        feature_shifts=args.feature_shifts,
        max_tests=args.max_tests,
        min_effect=args.min_effect,
        own_feature=bool(args.probe),
        progress=True,
    )
    result.write(args.output)
    print_concepts(result.concepts)
    print(f"wrote {args.output}/ (alignment.h5, pairs.tsv.gz, concepts.tsv, features.tsv)")
    return 0


def print_concepts(table) -> None:
    cols = [
        "concept",
        "single_feature",
        "single_test_element_f1",
        "single_test_precision",
        "single_test_element_recall",
        "single_test_auroc",
        "single_q_value",
        "set_features",
        "set_test_element_f1",
        "set_q_value",
    ]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _rank(args: argparse.Namespace) -> int:
    import genointerp as gi
    from genointerp.acts._extract import resolve_genome

    alignment = gi.align.Alignment.read(args.alignment)
    features = gi.features.FeatureActivations(args.features)
    tracks = gi.concepts.ConceptTracks.read(args.tracks)
    genome = resolve_genome(args.dataset or args.genome)
    decoder = None
    if args.sae:
        sae, _ = gi.sae.load_sae(args.sae, model_id=features.model_id, layer=features.layer)
        decoder = sae.W_dec.detach().numpy()
    settings = gi.rank.RankSettings(known_f1=args.known_f1, alpha=args.alpha)
    catalog = gi.rank.rank(
        alignment,
        features,
        genome,
        tracks,
        settings=settings,
        motifs=gi.datasets.motif_file(args.motifs),
        decoder=decoder,
        progress=True,
    )
    catalog.write(args.output)
    counts = catalog.table["class"].value_counts()
    print(", ".join(f"{k}: {counts.get(k, 0)}" for k in gi.rank.CLASSES))
    if catalog.families is not None and catalog.concepts is not None:
        print(catalog.summary())
    print(
        f"wrote {args.output}/ (catalog.h5ad, catalog.tsv, families.tsv, top_sites.tsv, "
        "jaspar_matches.tsv, logos/)"
    )
    return 0
