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
    _feature_arguments(
        ablate, "the best known feature of each known family in the run's catalog", 20
    )
    ablate.add_argument(
        "--families",
        action="store_true",
        help="also ablate each known family of two or more features as one target, against "
        "control groups of its size (the first --max-features families, best first)",
    )
    ablate.add_argument(
        "--group-controls", type=int, default=8, help="control groups per family (default 8)"
    )
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
        "--measure",
        help="the measure whose change goes into the catalog (steering_* columns): mean_orf, "
        "period3, gc, word_<WORD>, or an annotator's column (default: the first word's, "
        "else mean_orf)",
    )
    steer.add_argument(
        "--annotators", default="", help="aragorn and/or barrnap: count their finds per kb"
    )
    steer.set_defaults(handler=_steer)

    attribute = verbs.add_parser(
        "attribute",
        help="which bases drive a feature: attributions at its top sites, seqlets and "
        "their motif matches",
    )
    _run_arguments(attribute)
    _feature_arguments(
        attribute, "the best feature of each candidate novel family, most novel first", 10
    )
    attribute.add_argument("--sites", type=int, default=32, help="top sites per feature")
    attribute.add_argument(
        "--method",
        choices=["ism", "saliency", "deep_lift_shap"],
        default="ism",
        help="in-silico mutagenesis of the 64 nt before each site (default), gradient x "
        "input, or DeepLIFT/SHAP over shuffled references",
    )
    attribute.add_argument(
        "--motifs",
        default="jaspar2024_core",
        help="MEME file or data set the seqlets are compared with, beside the run's motif "
        "concepts (e.g. bacterial_motifs) (default: jaspar2024_core; '' for none)",
    )
    attribute.set_defaults(handler=_attribute)

    label = sub.add_parser(
        "label", help="label every alive feature from its evidence and score each label"
    )
    label.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder with a catalog")
    label.add_argument("--positions", type=int, default=1 << 18, help="test-block positions")
    label.add_argument("--block", type=int, default=100_000, help="validation/test block size")
    label.add_argument("--seed", type=int, default=0)
    label.add_argument(
        "--lm-endpoint",
        help="also draft labels with a language model: an OpenAI-compatible chat endpoint "
        "(e.g. http://localhost:8000/v1; API key from $GENOINTERP_LM_API_KEY); the drafts "
        "are scored the same way, as lm_label and lm_label_score",
    )
    label.add_argument("--lm-model", default="", help="the endpoint's model name (needed)")
    label.add_argument(
        "--lm-max",
        type=int,
        default=200,
        help="features drafted: candidate novel (most novel first), then known, then the "
        "rest (default 200; 0 = every alive feature)",
    )
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


def _feature_arguments(parser, default: str, most: int) -> None:
    parser.add_argument("--features", help=f"comma-separated features (default: {default})")
    parser.add_argument(
        "--max-features", type=int, default=most, help=f"at most this many (default {most})"
    )


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
    targets = {str(f): [f] for f in targets[: args.max_features]}
    if args.families:
        families = _known_families(run.file("catalog"))
        targets.update(dict(list(families.items())[: args.max_features]))
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
        group_controls=args.group_controls,
        seed=args.seed,
    )
    out = result.write(args.output or run.path / "intervene")
    print(
        f"ablation of {len(targets)} targets on {result.positions:,} positions "
        f"(clean {result.clean_bits:.3f} bits/nt) -> {out / 'ablation.tsv'}"
    )
    if run.has("catalog"):
        _ablation_into_catalog(run.file("catalog"), result.table)
    return 0


FAMILY = "family "  # the target name of a family ablated as one


def _known_families(folder: Path) -> dict[str, list[int]]:
    """``{"family <id>": members}`` of the known families of two or more features."""
    import pandas as pd

    path = folder / "families.tsv"
    if not path.is_file():
        from ..errors import GenointerpError

        raise GenointerpError(
            f"{folder}: no families.tsv, so --families has nothing to ablate. Fix: rank the "
            "run again with this version (it groups features into families)"
        )
    table = pd.read_csv(path, sep="\t")
    table = table[(table["class"] == "known") & (table["size"] > 1)]
    return {
        f"{FAMILY}{int(row.family)}": [int(m) for m in str(row.members).split(",")]
        for row in table.itertuples()
    }


def _ablation_into_catalog(folder: Path, table) -> None:
    """Per feature, the row of its own best concept (else its most selective concept):
    ``ablation_concept``, ``ablation_selectivity``, ``ablation_z``, ``ablation_p``; for the
    members of a family ablated as one, the family's row of its best feature's concept
    (``ablation_family_selectivity``, ``ablation_family_z``, ``ablation_family_p``)."""
    import pandas as pd

    from ..rank import add_evidence

    catalog = pd.read_csv(folder / "catalog.tsv", sep="\t").set_index("feature")
    best = catalog["best_concept"]
    leaders = {}
    if (folder / "families.tsv").is_file():
        rows = pd.read_csv(folder / "families.tsv", sep="\t").set_index("family")
        leaders = rows["best_feature"].astype(int).to_dict()
    singles, families = [], []
    for target, group in table.groupby("target"):
        members = [int(f) for f in str(group["features"].iloc[0]).split(",")]
        is_family = str(target).startswith(FAMILY)
        leader = members[0]  # a single feature; a family's best feature when it has one
        if is_family:
            leader = leaders.get(int(str(target)[len(FAMILY) :]), leader)
        own = group[group["concept"] == best.get(leader)]
        row = own.iloc[0] if len(own) else group.loc[group["selectivity"].idxmax()]
        prefix = "ablation_family_" if is_family else "ablation_"
        evidence = {
            f"{prefix}concept": row["concept"],
            f"{prefix}selectivity": row["selectivity"],
            f"{prefix}z": row["z"],
            f"{prefix}p": row["p_value"],
        }
        (families if is_family else singles).extend({"feature": m, **evidence} for m in members)
    for rows in (singles, families):
        if rows:  # an update: features ablated in earlier calls keep their numbers
            add_evidence(folder, pd.DataFrame(rows), update=True)


def _steer(args: argparse.Namespace) -> int:
    import pandas as pd

    from .._atomic import atomic_open
    from ..intervene import steer
    from ..rank import add_evidence

    run, model, sae, layer, genome, _ = _load(args.run, args.weights)
    catalog = pd.read_csv(run.file("catalog") / "catalog.tsv", sep="\t").set_index("feature")
    maxima = catalog["max"].reindex(range(sae.d_sae)).fillna(0).to_numpy()
    prompts = random_prompts(genome, args.prompts, model.default_min_context + 1, args.seed)
    features = [int(f) for f in args.features.split(",")]
    words = [w for w in args.words.split(",") if w]
    annotators = [a for a in args.annotators.split(",") if a]
    strengths = [float(s) for s in args.strengths.split(",")]
    measure = args.measure or (f"word_{words[0]}" if words else "mean_orf")
    _check_measure(measure, words, annotators)
    result = steer(
        model,
        sae,
        layer,
        features,
        prompts,
        strengths,
        mode=args.mode,
        maxima=maxima,
        length=args.length,
        words=words,
        annotators=annotators,
        seed=args.seed,
    )
    out = Path(args.output or run.path / "intervene")
    out.mkdir(parents=True, exist_ok=True)
    name = f"steer_{'_'.join(map(str, features))}_{args.mode}"
    dose = result.dose_response()
    for path, frame in ((f"{name}.tsv", result.table), (f"{name}_dose.tsv", dose)):
        with atomic_open(out / path) as handle:
            frame.to_csv(handle, sep="\t", index=False, float_format="%.5g")
    with atomic_open(out / f"{name}.fa") as handle:
        for (strength, prompt), seq in result.sequences.items():
            label = "none" if strength == "none" else f"{args.mode}={strength:g}"
            handle.write(f">edit={label} prompt={prompt}\n{seq}\n")
    print(dose.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    effect = result.effect(measure)
    print(
        f"{measure}: {effect['unsteered']:.3g} unsteered -> {effect['steered']:.3g} at the "
        f"highest strength (rho {effect['rho']:.2f}, paired p {effect['p_value']:.2g}); other "
        "features' activity changed "
        f"{effect['others_change']:.2f} (noise floor {effect['others_noise']:.2f})"
    )
    if run.has("catalog"):
        evidence = {f"steering_{k}": v for k, v in effect.items() if k != "steered"}
        evidence["steering_edit"] = (
            f"{args.mode} at {max(strengths):g}x max on {','.join(map(str, features))}"
        )
        rows = pd.DataFrame([{"feature": f, **evidence} for f in features])
        add_evidence(run.file("catalog"), rows, update=True)
    print(f"-> {out / name}.tsv, _dose.tsv, .fa")
    return 0 if pd.notna(effect["steered"]) else 1


def _check_measure(measure: str, words: list[str], annotators: list[str]) -> None:
    """Refuse a --measure the steering will not produce, before any generation."""
    from ..errors import GenointerpError
    from ..intervene import MEASURES

    known = [*MEASURES, *(f"word_{w}" for w in words)]
    if measure in known or any(measure.startswith(f"{a}_") for a in annotators):
        return
    raise GenointerpError(
        f"--measure {measure!r} is not measured; choose one of {', '.join(known)}"
        + (", or an annotator's column (aragorn_tRNA, barrnap_rRNA, ...)" if annotators else "")
        + ". Fix: pass --words W for word_W, or --annotators for their columns"
    )


def _attribute(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm.auto import tqdm

    from .._atomic import atomic_open
    from ..datasets import motif_file
    from ..intervene import attribute, attribution_row, seqlet_motifs
    from ..pl import attribution_logo
    from ..pl._common import offscreen_figure, save_figure
    from ..rank import add_evidence, motif_concepts, read_meme

    run, model, sae, layer, genome, tracks = _load(args.run, args.weights)
    folder = run.file("catalog")
    sites = pd.read_csv(folder / "top_sites.tsv", sep="\t")
    if args.features:
        targets = [int(f) for f in args.features.split(",")]
    else:
        targets = _candidate_leaders(folder)
    targets = targets[: args.max_features]
    if not targets:
        from ..errors import GenointerpError

        raise GenointerpError(
            f"{folder}: no candidate novel feature to attribute. Fix: name features with "
            "--features F,F"
        )
    path = motif_file(args.motifs)
    motifs = motif_concepts(tracks) + (read_meme(path) if path else [])  # bacterial ones too
    out = Path(args.output or run.path / "intervene") / "attribution"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for feature in tqdm(targets, desc=f"attribute ({args.method})", unit="feature"):
        mine = sites[sites["feature"] == feature].nlargest(args.sites, "activation")
        if mine.empty:
            print(f"feature {feature}: no top sites in the catalog, skipped")
            continue
        found = attribute(model, sae, layer, feature, genome, mine, method=args.method)
        groups = seqlet_motifs(found, motifs)
        with atomic_open(out / f"feature_{feature}_seqlets.tsv") as handle:
            groups.to_csv(handle, sep="\t", index=False, float_format="%.4g")
        fig = offscreen_figure((6.4, 2.0))
        attribution_logo(found, span=30, ax=fig.add_subplot())
        save_figure(fig, out / f"feature_{feature}.png", dpi=100)
        row = attribution_row(feature, groups, len(mine))
        row["attribution_logo"] = str((out / f"feature_{feature}.png").resolve())
        rows.append(row)
    table = pd.DataFrame(rows)
    with atomic_open(out / "attribution.tsv") as handle:
        table.to_csv(handle, sep="\t", index=False, float_format="%.4g")
    if not table.empty:  # an update: features attributed in earlier calls keep theirs
        add_evidence(folder, table, update=True)
        shown = table.drop(columns="attribution_logo")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"-> {out} (attribution.tsv, feature_<id>.png logos, feature_<id>_seqlets.tsv)")
    return 0


def _candidate_leaders(folder: Path) -> list[int]:
    """The best feature of each candidate novel family (families.tsv order), else the
    candidate novel features by novelty."""
    import pandas as pd

    families = folder / "families.tsv"
    if families.is_file():
        table = pd.read_csv(families, sep="\t")
        return table[table["class"] == "candidate_novel"]["best_feature"].astype(int).tolist()
    table = pd.read_csv(folder / "catalog.tsv", sep="\t")
    novel = table[table["class"] == "candidate_novel"].sort_values("novelty", ascending=False)
    return novel["feature"].astype(int).tolist()


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

    if args.lm_endpoint and not args.lm_model:
        from ..errors import GenointerpError

        raise GenointerpError("--lm-endpoint needs --lm-model (the model name the endpoint serves)")
    run = RunDir(args.run)
    folder = run.file("catalog")
    table = pd.read_csv(folder / "catalog.tsv", sep="\t")
    top = pd.read_csv(folder / "top_sites.tsv", sep="\t")
    features, tracks = (
        FeatureActivations(run.file("features")),
        ConceptTracks.read(run.file("concepts")),
    )
    genome, split = run.genome(), BlockSplit(block=args.block)
    scores = score_labels(
        make_labels(table, top),
        features,
        tracks,
        genome,
        split,
        positions=args.positions,
        seed=args.seed,
    )
    evidence = scores.rename(columns={"score": "label_score"})[["feature", "label", "label_score"]]
    add_evidence(folder, evidence)
    if args.lm_endpoint:
        drafts = _draft(args, table, top, tracks)
        lm = score_labels(
            drafts, features, tracks, genome, split, positions=args.positions, seed=args.seed
        )
        lm = lm.rename(columns={"label": "lm_label", "score": "lm_label_score"})
        add_evidence(folder, lm.reindex(columns=["feature", "lm_label", "lm_label_score"]))
        both = lm.merge(scores[["feature", "score"]], on="feature")
        print(
            f"language-model drafts: {len(lm)} features, {int(lm['lm_label_score'].notna().sum())}"
            f" scorable; median score {both['lm_label_score'].median():.3f} against "
            f"{both['score'].median():.3f} for the built-in labels of the same features"
        )
    summary = scores.merge(table[["feature", "class"]], on="feature").groupby("class")["score"]
    print(summary.agg(["count", "median"]).to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"-> label, label_score in {folder / 'catalog.tsv'}")
    return 0


def _draft(args, table, top, tracks) -> list:
    """Language-model drafts for the first ``--lm-max`` alive features: candidate novel
    (most novel first), then known (best first), then the rest."""
    from ..rank import Endpoint, draft_labels

    order = {"candidate_novel": 0, "known": 1}
    alive = table[table["class"] != "dead"].assign(
        _rank=table["class"].map(order).fillna(2),
        _score=table["novelty"].where(
            table["class"] == "candidate_novel", table["test_element_f1"]
        ),
    )
    alive = alive.sort_values(["_rank", "_score"], ascending=[True, False])
    if args.lm_max:
        alive = alive.head(args.lm_max)
    endpoint = Endpoint(args.lm_endpoint, args.lm_model)
    return draft_labels(alive, top, list(tracks.concepts), endpoint)


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
