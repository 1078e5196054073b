"""Produce the "new concepts" figures of docs/results.md: the demo SAE aligned with the
concepts that sequence annotators and the bacterial motif catalog add (terminators, RBS,
motifs), on E. coli and S. pyogenes, and what becomes of the candidate novel features.

    python benchmarks/results_concepts.py --sae genointerp_demo/sae \
        --features genointerp_demo/features.h5 --old-tracks genointerp_demo/concepts.h5 \
        --other-store spy.acts.h5 --other-features spy.features.h5 --work results_concepts \
        --motifs "$(genointerp data path jaspar2024_core $JASPAR)"

with ``JASPAR=JASPAR2024_CORE_non-redundant_all_taxa.meme.gz``.

``--old-tracks`` are concept tracks built before these concepts existed (the demo's own
``concepts.h5`` from a release before them, or any tracks file): the candidates they leave
are "today's" candidates.  S. pyogenes activations and features come from
``benchmarks/results.py`` (its work folder holds them).  Every stage caches its output in
``--work``, so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from results import stage  # benchmarks/results.py: a cached, timed stage

import genointerp as gi

ECOLI, OTHER = "ecoli_k12", "streptococcus_pyogenes_m1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sae", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True, help="E. coli features of --sae")
    ap.add_argument("--old-tracks", type=Path, required=True)
    ap.add_argument("--other-store", type=Path, help="S. pyogenes activations")
    ap.add_argument("--other-features", type=Path, help="S. pyogenes features of --sae")
    ap.add_argument("--work", type=Path, default=Path("results_concepts"))
    ap.add_argument("--motifs", type=Path, help="JASPAR MEME file")
    ap.add_argument("--shifts", type=int, default=1000)
    ap.add_argument("--feature-shifts", type=int, default=200)
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    old = gi.concepts.ConceptTracks.read(args.old_tracks)
    new = tracks(work, ECOLI, summary)
    added = [c for c in new.concepts if c not in old.concepts]
    summary["added_concepts"] = added
    features = gi.features.FeatureActivations(args.features)
    before = aligned(work / "ecoli_before", features, old, args)
    after = aligned(work / "ecoli_after", features, new, args)
    cat_before = ranked(work / "ecoli_before_catalog", before, features, ECOLI, old, args)
    cat_after = ranked(work / "ecoli_after_catalog", after, features, ECOLI, new, args)
    summary["ecoli_classes_before"] = cat_before["class"].value_counts().to_dict()
    summary["ecoli_classes_after"] = cat_after["class"].value_counts().to_dict()
    fate = candidates_fate(cat_before, cat_after, new)
    summary["ecoli_candidates_before"] = int(len(fate))
    summary["ecoli_candidates_fate"] = fate.groupby(["class", "route"]).size().to_dict()
    summary["ecoli_candidates_fate"] = {
        f"{k[0]} ({k[1]})": int(v) for k, v in summary["ecoli_candidates_fate"].items()
    }
    summary["ecoli_candidates_known_by_concept"] = (
        fate.loc[fate["class"] == "known", "best_concept"].value_counts().to_dict()
    )
    write(work, "ecoli_new_concepts", concept_table(after, added))
    write(work, "ecoli_fate", fate)
    write(work, "ecoli_top_candidates", top_candidates(cat_after))
    if args.other_store and args.other_features:
        other_tracks = tracks(work, OTHER, summary)
        other_features = gi.features.FeatureActivations(args.other_features)
        other = aligned(work / "other_after", other_features, other_tracks, args)
        cat_other = ranked(work / "other_catalog", other, other_features, OTHER, other_tracks, args)
        summary["other_classes_after"] = cat_other["class"].value_counts().to_dict()
        other_added = [c for c in added if c in other_tracks.concepts]
        write(work, "other_new_concepts", concept_table(other, other_added))
        write(work, "other_top_candidates", top_candidates(cat_other))
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=int))
    print(json.dumps(summary, indent=2, default=int))


def tracks(work: Path, dataset: str, summary: dict):
    """The data set's tracks with the current catalog (curated rows, annotator concepts,
    motifs), and, for the element counts, the same catalog from the annotators alone."""
    path = work / f"{dataset}.concepts.h5"
    alone = work / f"{dataset}.annotators_alone.concepts.h5"
    stage(path, f"concepts {dataset}", lambda: gi.concepts.build(dataset).write(path))
    stage(
        alone,
        f"concepts {dataset} from annotators alone",
        lambda: gi.concepts.build(dataset, annotations=[], annotate=True).write(alone),
    )
    both = gi.concepts.ConceptTracks.read(path).summary()[["concept", "elements"]]
    by_tools = gi.concepts.ConceptTracks.read(alone).summary()[["concept", "elements"]]
    table = both.merge(by_tools, on="concept", suffixes=("_curated", "_annotators"))
    write(work, f"{dataset}_elements", table)
    summary[f"{dataset}_elements"] = table.set_index("concept").to_dict("index")
    return gi.concepts.ConceptTracks.read(path)


def aligned(out: Path, features, tracks, args):
    stage(
        out / "concepts.tsv",
        f"align {out.name}",
        lambda: gi.align.align(
            features,
            tracks,
            split=gi.align.BlockSplit(block=100_000),
            n_shifts=args.shifts,
            feature_shifts=args.feature_shifts,
            progress=True,
        ).write(out),
    )
    return gi.align.Alignment.read(out)


def ranked(out: Path, alignment, features, dataset: str, tracks, args) -> pd.DataFrame:
    stage(
        out / "catalog.tsv",
        f"rank {out.name}",
        lambda: gi.rank.rank(
            alignment,
            features,
            gi.datasets.load(dataset).genome(),
            tracks,
            motifs=args.motifs,
            decoder=gi.sae.load_sae(args.sae)[0].W_dec.detach().numpy(),
            progress=True,
        ).write(out),
    )
    return pd.read_csv(out / "catalog.tsv", sep="\t")


def candidates_fate(before: pd.DataFrame, after: pd.DataFrame, tracks) -> pd.DataFrame:
    """Each candidate of ``before``: its class with the new concepts, and why."""
    motifs = {s.name for s in tracks.specs if s.motif is not None}
    was = before.loc[before["class"] == "candidate_novel", "feature"]
    now = after.set_index("feature").loc[was.to_numpy()].reset_index()
    by_pwm = now["motif_match"].notna() if "motif_match" in now else False
    route = np.select(
        [
            now["class"] != "known",
            by_pwm & (now["class"] == "known"),
            now["best_concept"].isin(motifs),
        ],
        ["-", "PWM matches a known motif (TOMTOM)", "aligned with a motif concept"],
        default="aligned with an annotator concept",
    )
    keep = ["feature", "class", "best_concept", "test_element_f1", "q_value", "motif_ic"]
    extra = [c for c in ("motif_match", "motif_q") if c in now]
    return now[keep + extra].assign(route=route)


def concept_table(alignment, concepts: list[str]) -> pd.DataFrame:
    c = alignment.concepts.set_index("concept").loc[concepts]
    return pd.DataFrame(
        {
            "test elements": c["elements_test"],
            "feature": c["single_feature"],
            "eF1": c["single_test_element_f1"],
            "precision": c["single_test_precision"],
            "element recall": c["single_test_element_recall"],
            "AUROC": c["single_test_auroc"],
            "q": c["single_q_value"],
            "set eF1": c["set_test_element_f1"],
        }
    ).reset_index()


def top_candidates(catalog: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    top = catalog[catalog["class"] == "candidate_novel"].nlargest(n, "novelty")
    keep = ["feature", "novelty", "motif_ic", "reproducibility", "density", "shape"]
    keep += [c for c in ("jaspar_name", "jaspar_q", "motif_match", "motif_q") if c in top]
    return top[keep]


def write(work: Path, name: str, table: pd.DataFrame) -> None:
    table.to_csv(work / f"table_{name}.tsv", sep="\t", index=False, float_format="%.4f")
    print(f"\n{name}\n" + table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
