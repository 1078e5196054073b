"""Issue 16's measurements on the demo run: ablation, steering, seed stability, labels and
the geometry of the codon family.  Each part caches its output in --work.

    python benchmarks/intervene_demo.py --run genointerp_demo --work intervene_work

Parts (``--parts``, default all):
- ``ablate``: the best known feature of each concept and three candidates, ablated on
  E. coli's test blocks, against a pool of density-matched controls;
- ``families``: the first three known families of families.tsv (all their members, as
  ``genointerp intervene ablate --families`` does), each ablated as one on the test blocks,
  against 8 control groups of its size (each member density-matched);
- ``steer``: the best CDS feature and the best codon-position feature clamped at 0-4x
  their maximum, and three candidates with a consensus word pushed the same way, from
  random genome windows; ORF length, period-3 signal and word rate of the output, and the
  steered and other features' activity read back (against the unsteered model and its
  next-seed twin);
- ``attribute``: ISM at the 32 strongest sites of the ten most novel candidate families'
  best features, seqlet groups against JASPAR and the run's motif concepts;
- ``seeds``: the demo SAE recipe with seed 1, encoded and matched to the demo SAE;
- ``labels``: every alive feature's label and its simulation score on the test blocks;
- ``geometry``: the codon family's activations on two principal axes (PNG).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import genointerp as gi
from genointerp._rundir import RunDir

CONCEPTS = ["cds", "codon_pos1", "codon_pos2", "codon_pos3", "intergenic", "gene_upstream"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("intervene_work"))
    ap.add_argument("--parts", default="ablate,families,steer,attribute,seeds,labels,geometry")
    ap.add_argument("--positions", type=int, default=200_000)
    ap.add_argument("--length", type=int, default=600, help="steering: nt generated per prompt")
    ap.add_argument("--prompts", type=int, default=4, help="steering: prompts per strength")
    ap.add_argument("--strengths", default="0,1,2,4", help="steering: clamps, x the maximum")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run = RunDir(args.run)
    catalog = pd.read_csv(run.file("catalog") / "catalog.tsv", sep="\t")
    top = pd.read_csv(run.file("catalog") / "top_sites.tsv", sep="\t")
    labels = gi.rank.make_labels(catalog, top)
    for part in args.parts.split(","):
        out = args.work / f"{part}.tsv"
        if out.exists():
            print(f"[cached] {part}: {out}")
            continue
        start = time.perf_counter()
        table = PARTS[part](run, catalog, labels, args)
        table.to_csv(out, sep="\t", index=False, float_format="%.5g")
        print(f"[{time.perf_counter() - start:7.1f} s] {part}: {out}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)


def model_and_sae(run):
    sae, provenance = gi.sae.load_sae(run.file("sae"))
    return gi.models.load_model("tiny"), sae, provenance.layer


def targets(catalog: pd.DataFrame, labels) -> dict[str, list[int]]:
    """The best known feature of each concept, and the three best candidates whose label
    is a word."""
    known = catalog[catalog["class"] == "known"].sort_values("test_element_f1", ascending=False)
    chosen = {
        f"best {c}": [int(f)] for c, f in known.groupby("best_concept")["feature"].first().items()
    }
    worded = {label.feature: label for label in labels if label.word}
    candidates = catalog[(catalog["class"] == "candidate_novel") & catalog["feature"].isin(worded)]
    for f in candidates.sort_values("novelty", ascending=False)["feature"].head(3):
        chosen[f"candidate {worded[int(f)].word}"] = [int(f)]
    return chosen


def test_block_ablation(run, targets, positions: int, **kwargs):
    """``ablation_effect`` of the run's SAE on E. coli's test blocks (100 kb blocks)."""
    model, sae, layer = model_and_sae(run)
    genome = run.genome()
    tracks = gi.concepts.ConceptTracks.read(run.file("concepts"))
    regions = gi.rank.split_regions(gi.align.BlockSplit(block=100_000), genome.lengths)
    return gi.intervene.ablation_effect(
        model,
        sae,
        genome,
        tracks,
        layer,
        targets,
        concepts=CONCEPTS,
        positions=positions,
        regions=regions,
        **kwargs,
    )


def ablate(run, catalog, labels, args) -> pd.DataFrame:
    found = test_block_ablation(run, targets(catalog, labels), args.positions)
    found.controls.to_csv(args.work / "ablate_controls.tsv", sep="\t", index=False)
    (args.work / "ablate_clean.json").write_text(
        json.dumps({"positions": found.positions, "clean_bits": found.clean_bits})
    )
    return found.table


def families(run, catalog, labels, args) -> pd.DataFrame:
    from genointerp.cli._intervene import _known_families

    # what 'genointerp intervene ablate --families' ablates: the first three known families
    groups = dict(list(_known_families(run.file("catalog")).items())[:3])
    found = test_block_ablation(run, groups, args.positions, group_controls=8)
    found.group_controls.to_csv(args.work / "families_controls.tsv", sep="\t", index=False)
    return found.table


def attribute(run, catalog, labels, args) -> pd.DataFrame:
    from genointerp.cli._intervene import _candidate_leaders

    model, sae, layer = model_and_sae(run)
    genome = run.genome()
    tracks = gi.concepts.ConceptTracks.read(run.file("concepts"))
    motifs = gi.rank.motif_concepts(tracks)
    motifs += gi.rank.read_meme(gi.datasets.motif_file("jaspar2024_core"))
    sites = pd.read_csv(run.file("catalog") / "top_sites.tsv", sep="\t")
    rows = []
    for feature in _candidate_leaders(run.file("catalog"))[:10]:
        mine = sites[sites["feature"] == feature].nlargest(32, "activation")
        found = gi.intervene.attribute(model, sae, layer, feature, genome, mine, method="ism")
        groups = gi.intervene.seqlet_motifs(found, motifs)
        groups.to_csv(args.work / f"attribute_{feature}.tsv", sep="\t", index=False)
        word = next((lab.word for lab in labels if lab.feature == feature), None)
        row = gi.intervene.attribution_row(feature, groups, len(mine))
        rows.append({**row, "label_word": word})
    return pd.DataFrame(rows)


def steer(run, catalog, labels, args) -> pd.DataFrame:
    from genointerp.cli._intervene import random_prompts

    model, sae, layer = model_and_sae(run)
    maxima = catalog.set_index("feature")["max"].reindex(range(sae.d_sae)).fillna(0).to_numpy()
    prompts = random_prompts(run.genome(), args.prompts, model.default_min_context + 1, 0)
    chosen = targets(catalog, labels)
    picks = {k: v for k, v in chosen.items() if k in ("best cds", "best codon_pos1")}
    picks.update({k: v for k, v in chosen.items() if k.startswith("candidate")})
    if "best codon_pos1" not in picks:  # codon features are often best on cds
        phase = catalog[(catalog["class"] == "known") & (catalog["phase0"] > 0.6)]
        phase = phase.sort_values("test_element_f1", ascending=False)
        picks["codon position 1"] = [int(phase.iloc[0]["feature"])]
    words = [k.split()[1] for k in picks if k.startswith("candidate")]
    tables, effects = [], []
    for name, features in picks.items():
        result = gi.intervene.steer(
            model,
            sae,
            layer,
            features,
            prompts,
            [float(v) for v in args.strengths.split(",")],
            maxima=maxima,
            length=args.length,
            words=words,
        )
        dose = result.dose_response()
        dose.insert(0, "target", name)
        dose.insert(1, "feature", features[0])
        tables.append(dose)
        own = [f"word_{name.split()[1]}"] if name.startswith("candidate") else []
        for measure in [*own, "mean_orf", "period3", "gc"]:
            effects.append({"target": name, **result.effect(measure)})
    effect = pd.DataFrame(effects)
    effect.to_csv(args.work / "steer_effects.tsv", sep="\t", index=False, float_format="%.5g")
    print(effect.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return pd.concat(tables, ignore_index=True)


def seeds(run, catalog, labels, args) -> pd.DataFrame:
    store = run.file("activations")
    config = gi.sae.SAETrainConfig(  # the demo's recipe (pipeline/configs/demo.yaml)
        sae=gi.sae.SAEConfig(architecture="topk", k=32, expansion_factor=16),
        data=gi.sae.DataConfig(store=str(store)),
        optim=gi.sae.OptimConfig(lr=1.6e-3),
        tokens=2_000_000,
    )
    config.seed = 1
    other = args.work / "sae_seed1"
    if not (other / "metrics.json").exists():
        gi.sae.train_sae(config, other, progress=True)
    feats = args.work / "seed1.features.h5"
    if not feats.exists():
        tracks = gi.concepts.ConceptTracks.read(run.file("concepts"))
        gi.features.encode(store, other, feats, tracks=tracks, progress=True)
    a, _ = gi.sae.load_sae(run.file("sae"))
    b, _ = gi.sae.load_sae(other)
    found = gi.rank.match_features(
        gi.features.FeatureActivations(run.file("features")),
        gi.features.FeatureActivations(feats),
        decoders=(a.W_dec.detach().numpy(), b.W_dec.detach().numpy()),
    )
    found.write(args.work / "seeds_match.tsv")
    return found.summary(catalog.set_index("feature")["class"])


def labels_part(run, catalog, labels, args) -> pd.DataFrame:
    scores = gi.rank.score_labels(
        labels,
        gi.features.FeatureActivations(run.file("features")),
        gi.concepts.ConceptTracks.read(run.file("concepts")),
        run.genome(),
        gi.align.BlockSplit(block=100_000),
    )
    scores = scores.merge(catalog[["feature", "class"]], on="feature")
    scores.to_csv(args.work / "labels_all.tsv", sep="\t", index=False, float_format="%.4f")
    return (
        scores.groupby(["class", "kind"])["score"]
        .agg(["count", "median", lambda s: float((s >= 0.5).mean())])
        .rename(columns={"<lambda_0>": "fraction_0.5"})
        .reset_index()
    )


def geometry(run, catalog, labels, args) -> pd.DataFrame:
    import matplotlib

    matplotlib.use("Agg")
    store = gi.acts.ActivationStore(run.file("activations"))
    features = gi.features.FeatureActivations(run.file("features"))
    tracks = gi.concepts.ConceptTracks.read(run.file("concepts"))
    layer = store.layers[0]
    rows = {}
    families = catalog[catalog["class"] == "known"].groupby("family")["feature"].apply(list)
    biggest = families[families.map(len).sort_values(ascending=False).index[:3]]
    for family, members in biggest.items():
        found = gi.rank.family_geometry(store, layer, features, members, tracks)
        ax = gi.pl.geometry(found, title=f"family {family} ({len(members)} features)")
        ax.figure.savefig(args.work / f"geometry_family{family}.png", dpi=110)
        rows[f"family {family}"] = found
    return gi.rank.geometry_table(rows)


PARTS = {
    "ablate": ablate,
    "families": families,
    "steer": steer,
    "attribute": attribute,
    "seeds": seeds,
    "labels": labels_part,
    "geometry": geometry,
}

if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
