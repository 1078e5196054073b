"""``genointerp intervene ablate|steer`` and ``genointerp match``: does a feature matter to the
model, and does it recur in another SAE?"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    intervene = sub.add_parser(
        "intervene", help="ablate or steer SAE features inside the model (causal tests)"
    )
    verbs = intervene.add_subparsers(dest="verb", metavar="VERB", required=True)

    ablate = verbs.add_parser(
        "ablate",
        help="loss rise at each concept's positions when a feature is ablated, against "
        "density-matched control features",
    )
    _run_arguments(ablate)
    ablate.add_argument(
        "--features",
        help="comma-separated features (default: the best known feature of each "
        "known family in the run's catalog)",
    )
    ablate.add_argument("--max-features", type=int, default=20, help="at most this many targets")
    ablate.add_argument("--concepts", help="comma-separated concepts (default: all)")
    ablate.add_argument("--positions", type=int, default=200_000, help="scored positions")
    ablate.add_argument("--controls", type=int, default=24, help="control features in the pool")
    ablate.set_defaults(handler=_ablate)

    steer = verbs.add_parser(
        "steer", help="generate with features clamped or pushed at several strengths"
    )
    _run_arguments(steer)
    steer.add_argument(
        "--features", required=True, help="comma-separated features, edited together"
    )
    steer.add_argument("--mode", choices=["clamp", "add"], default="clamp")
    steer.add_argument(
        "--strengths",
        default="0,0.5,1,2,4",
        help="multiples of each feature's maximum activation (default 0,0.5,1,2,4)",
    )
    steer.add_argument("--prompts", type=int, default=4, help="random genome windows as prompts")
    steer.add_argument("--length", type=int, default=1000, help="nucleotides generated per prompt")
    steer.add_argument("--words", default="", help="comma-separated words to count in the output")
    steer.add_argument(
        "--annotators", default="", help="aragorn and/or barrnap: count their finds per kb"
    )
    steer.set_defaults(handler=_steer)

    label = sub.add_parser(
        "label", help="label every alive feature from its evidence and score each label"
    )
    label.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder with a catalog")
    label.add_argument("--positions", type=int, default=1 << 18, help="test-block positions")
    label.add_argument("--block", type=int, default=100_000, help="validation/test block size")
    label.add_argument("--seed", type=int, default=0)
    label.set_defaults(handler=_label)

    match = sub.add_parser(
        "match", help="match the features of two SAEs encoded on one genome (seed stability)"
    )
    match.add_argument("first", type=Path, metavar="FEATURES_A", help="features.h5 of SAE A")
    match.add_argument("second", type=Path, metavar="FEATURES_B", help="features.h5 of SAE B")
    match.add_argument("--sae-a", type=Path, help="SAE A's folder: adds decoder cosines")
    match.add_argument("--sae-b", type=Path, help="SAE B's folder: adds decoder cosines")
    match.add_argument(
        "--catalog",
        type=Path,
        help="SAE A's catalog folder: counts per class, and seed_match, seed_correlation and "
        "seed_stable columns added to it",
    )
    match.add_argument("--positions", type=int, default=1 << 19, help="sampled positions")
    match.add_argument("-o", "--output", type=Path, required=True, help="output .tsv")
    match.set_defaults(handler=_match)


def _run_arguments(parser) -> None:
    parser.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder (demo or pipeline)")
    parser.add_argument(
        "--weights",
        help="the built-in model's weights: a shipped version (v1, v2) or a folder from "
        "'lm train' (default: the shipped version the SAE's model id names)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, help="output folder (default: RUN/intervene)")


def _load(run_path: Path, weights: str | None = None):
    """The run's model, SAE, layer, genome and concept tracks."""
    from .._rundir import RunDir
    from ..concepts import ConceptTracks
    from ..errors import GenointerpError
    from ..models import SHIPPED, load_model
    from ..sae import load_sae

    run = RunDir(run_path)
    sae, provenance = load_sae(run.file("sae"))
    kind, _, name = provenance.model_id.partition(":")
    versions = {f"genointerp-tiny-{version}": version for version in SHIPPED}
    if kind != "tiny" or (weights is None and name not in versions):
        raise GenointerpError(
            f"{run_path}: the SAE reads {provenance.model_id!r}; interventions run the built-in "
            "model only for now. Fix: use a run of the built-in model, and pass --weights "
            "when it is not a shipped version"
        )
    model = load_model("tiny", weights or versions[name])
    if model.model_id != provenance.model_id:
        raise GenointerpError(
            f"--weights {weights} loads {model.model_id!r}, but the run's SAE reads "
            f"{provenance.model_id!r}. Fix: pass the weights of the run's model"
        )
    tracks = ConceptTracks.read(run.file("concepts"))
    return run, model, sae, provenance.layer, run.genome(), tracks


def _ablate(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..intervene import ablation_effect

    run, model, sae, layer, genome, tracks = _load(args.run, args.weights)
    if args.features:
        targets = [int(f) for f in args.features.split(",")]
    else:
        catalog = pd.read_csv(run.file("catalog") / "catalog.tsv", sep="\t")
        known = catalog[(catalog["class"] == "known")]
        if "family_best" in known:
            known = known[known["family_best"]]
        targets = known.sort_values("test_element_f1", ascending=False)["feature"].tolist()
    targets = targets[: args.max_features]
    result = ablation_effect(
        model,
        sae,
        genome,
        tracks,
        layer,
        targets,
        concepts=args.concepts.split(",") if args.concepts else None,
        positions=args.positions,
        controls=args.controls,
        seed=args.seed,
    )
    out = result.write(args.output or run.path / "intervene")
    print(
        f"ablation of {len(targets)} features on {result.positions:,} positions "
        f"(clean {result.clean_bits:.3f} bits/nt) -> {out / 'ablation.tsv'}"
    )
    if run.has("catalog"):
        _ablation_into_catalog(run.file("catalog"), result.table)
    return 0


def _ablation_into_catalog(folder: Path, table) -> None:
    """Per feature, the row of its own best concept (else its most selective concept):
    ``ablation_concept``, ``ablation_selectivity``, ``ablation_z``, ``ablation_p``."""
    import pandas as pd

    from ..rank import add_evidence

    catalog = pd.read_csv(folder / "catalog.tsv", sep="\t").set_index("feature")
    rows = []
    for target, group in table.groupby("target"):
        feature = int(target)
        own = group[group["concept"] == catalog["best_concept"].get(feature)]
        row = own.iloc[0] if len(own) else group.loc[group["selectivity"].idxmax()]
        rows.append(
            {
                "feature": feature,
                "ablation_concept": row["concept"],
                "ablation_selectivity": row["selectivity"],
                "ablation_z": row["z"],
                "ablation_p": row["p_value"],
            }
        )
    add_evidence(folder, pd.DataFrame(rows))


def _steer(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from ..intervene import steer

    run, model, sae, layer, genome, _ = _load(args.run, args.weights)
    catalog = pd.read_csv(run.file("catalog") / "catalog.tsv", sep="\t").set_index("feature")
    maxima = catalog["max"].reindex(range(sae.d_sae)).fillna(0).to_numpy()
    prompts = random_prompts(genome, args.prompts, model.default_min_context + 1, args.seed)
    features = [int(f) for f in args.features.split(",")]
    result = steer(
        model,
        sae,
        layer,
        features,
        prompts,
        [float(s) for s in args.strengths.split(",")],
        mode=args.mode,
        maxima=maxima,
        length=args.length,
        words=[w for w in args.words.split(",") if w],
        annotators=[a for a in args.annotators.split(",") if a],
        seed=args.seed,
    )
    out = Path(args.output or run.path / "intervene")
    out.mkdir(parents=True, exist_ok=True)
    name = f"steer_{'_'.join(map(str, features))}_{args.mode}"
    result.table.to_csv(out / f"{name}.tsv", sep="\t", index=False, float_format="%.5g")
    dose = result.dose_response()
    dose.to_csv(out / f"{name}_dose.tsv", sep="\t", index=False, float_format="%.5g")
    with open(out / f"{name}.fa", "w") as handle:
        for (strength, prompt), seq in result.sequences.items():
            handle.write(f">strength={strength:g} prompt={prompt}\n{seq}\n")
    print(dose.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"-> {out / name}.tsv, _dose.tsv, .fa")
    return 0 if np.isfinite(dose.to_numpy(dtype=float)).any() else 1


def random_prompts(genome, n: int, length: int, seed: int) -> list[str]:
    """``n`` random windows of ``length`` nt of the genome, '+' strand."""
    import numpy as np

    rng = np.random.default_rng(seed)
    contigs = [c for c, size in genome.lengths.items() if size > length]
    out = []
    for _ in range(n):
        contig = contigs[rng.integers(len(contigs))]
        start = int(rng.integers(0, genome.lengths[contig] - length))
        out.append(genome.fetch(contig, start, start + length).upper())
    return out


def _label(args: argparse.Namespace) -> int:
    import pandas as pd

    from .._rundir import RunDir
    from ..align import BlockSplit
    from ..concepts import ConceptTracks
    from ..features import FeatureActivations
    from ..rank import add_evidence, make_labels, score_labels

    run = RunDir(args.run)
    folder = run.file("catalog")
    table = pd.read_csv(folder / "catalog.tsv", sep="\t")
    top = pd.read_csv(folder / "top_sites.tsv", sep="\t")
    scores = score_labels(
        make_labels(table, top),
        FeatureActivations(run.file("features")),
        ConceptTracks.read(run.file("concepts")),
        run.genome(),
        BlockSplit(block=args.block),
        positions=args.positions,
        seed=args.seed,
    )
    evidence = scores.rename(columns={"score": "label_score"})[["feature", "label", "label_score"]]
    add_evidence(folder, evidence)
    summary = scores.merge(table[["feature", "class"]], on="feature").groupby("class")["score"]
    print(summary.agg(["count", "median"]).to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"-> label, label_score in {folder / 'catalog.tsv'}")
    return 0


def _match(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..features import FeatureActivations
    from ..rank import add_evidence, match_features
    from ..sae import load_sae

    decoders = None
    if args.sae_a and args.sae_b:
        (a, pa), (b, pb) = load_sae(args.sae_a), load_sae(args.sae_b)
        if (pa.model_id, pa.layer) == (pb.model_id, pb.layer):
            decoders = (a.W_dec.detach().numpy(), b.W_dec.detach().numpy())
    found = match_features(
        FeatureActivations(args.first),
        FeatureActivations(args.second),
        decoders=decoders,
        positions=args.positions,
    )
    found.write(args.output)
    classes = None
    if args.catalog:
        table = pd.read_csv(args.catalog / "catalog.tsv", sep="\t")
        classes = table.set_index("feature")["class"]
        match = found.table.rename(
            columns={
                "match": "seed_match",
                "correlation": "seed_correlation",
                "stable": "seed_stable",
            }
        )
        add_evidence(
            args.catalog, match[["feature", "seed_match", "seed_correlation", "seed_stable"]]
        )
    summary = found.summary(classes)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"-> {args.output}")
    return 0
