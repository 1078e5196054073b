"""Produce the figures of docs/results.md: align and rank on E. coli, baselines, and an
unseen organism.  Every stage caches its output in --work, so a rerun resumes.

    python benchmarks/results.py --store acts.h5 --sae sae/ --tracks concepts.h5 \
        --features ecoli.features.h5 --work results_work

The store, SAE and tracks are what ``genointerp demo`` writes (genointerp_demo/).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import genointerp as gi

OTHER = "streptococcus_pyogenes_m1"  # never seen by the model (its recipe's `unseen`) or SAE
GENERAL = [  # the 12 general prokaryotic concepts of issue 15
    "cds",
    "codon_pos1",
    "codon_pos2",
    "codon_pos3",
    "cds_start_codon",
    "cds_stop_codon",
    "gene_upstream",
    "trna",
    "rrna",
    "ncrna",
    "intergenic",
    "mobile_element",
]
KNOWN_F1, ALPHA = 0.5, 0.05  # gi.rank's cut-offs for a known concept


def stage(path: Path, what: str, fn):
    if path.exists():
        print(f"[cached] {what}: {path}")
        return
    t = time.perf_counter()
    fn()
    print(f"[{time.perf_counter() - t:7.1f} s] {what}: {path}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--sae", type=Path, required=True)
    ap.add_argument("--tracks", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("results_work"))
    ap.add_argument("--motifs", type=Path, help="JASPAR MEME file")
    ap.add_argument("--shifts", type=int, default=1000)
    ap.add_argument("--feature-shifts", type=int, default=200, help="for per-feature tests")
    ap.add_argument("--max-tests", type=int, default=None, help="cap on per-feature tests")
    ap.add_argument("--sae-tokens", type=int, default=2_000_000, help="joint and control SAEs")
    ap.add_argument("--skip-other", action="store_true")
    ap.add_argument("--skip-joint", action="store_true")
    ap.add_argument("--skip-random", action="store_true")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    tracks = gi.concepts.ConceptTracks.read(args.tracks)
    split = gi.align.BlockSplit(block=100_000)
    store = gi.acts.ActivationStore(args.store)
    layer = store.layers[0]
    if not args.features.exists():
        stage(
            args.features,
            "encode E. coli",
            lambda: gi.features.encode(
                store, args.sae, args.features, tracks=tracks, progress=True
            ),
        )
    fa = gi.features.FeatureActivations(args.features)

    def run_align(name, source, **kw):
        out = work / name
        settings = {
            "split": split,
            "n_shifts": args.shifts,
            "feature_shifts": args.feature_shifts,
            "max_tests": args.max_tests,
            "progress": True,
            **kw,
        }
        stage(
            out / "concepts.tsv",
            f"align {name}",
            lambda: gi.align.align(source, tracks, **settings).write(out),
        )
        return gi.align.Alignment.read(out)

    sae_al = run_align("ecoli_sae", fa)
    neuron_al = run_align(
        "ecoli_neurons", gi.align.neurons(store, layer), candidates=1, min_effect=2.0
    )
    probe_source = gi.align.probe(store, layer, tracks, split)
    probe_al = run_align(
        "ecoli_probe", probe_source, candidates=1, min_effect=2.0, own_feature=True
    )
    summary = {
        "classes": rank_classes(
            work / "ecoli_catalog", sae_al, fa, "ecoli_k12", tracks, args, args.sae
        ),
        "features": int(fa.d_sae),
    }
    tables = {"ecoli": compare(sae_al, neuron_al, probe_al)}
    modes = {"single strand": sae_al}
    if not args.skip_joint:
        modes["joint strands"] = joint_mode(work, args, store, layer, tracks, run_align, summary)
    if not args.skip_random:
        modes["random-init model"] = random_control(work, args, layer, tracks, run_align, summary)
    if len(modes) > 1:
        tables["modes"] = compare_modes(modes)
    if not args.skip_other:
        tables["other"] = other_genome(
            work, args, sae_al, neuron_al, probe_al, probe_source, layer, summary
        )
    if "other" in tables:
        tables["general"] = general(tables["ecoli"], tables["other"], work / "ecoli_catalog")
    tables["families"] = families_by_concept(work / "ecoli_catalog")
    for name, table in tables.items():
        table.to_csv(work / f"table_{name}.tsv", sep="\t", index=False, float_format="%.4f")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def rank_classes(out: Path, alignment, features, dataset: str, tracks, args, sae_dir) -> dict:
    """Rank (cached in ``out``) and count the features of each class; also count the
    matches at the known effect size (test element-F1 >= 0.5), tested or not."""
    stage(
        out / "catalog.tsv",
        f"rank {dataset}",
        lambda: gi.rank.rank(
            alignment,
            features,
            gi.datasets.load(dataset).genome(),
            tracks,
            motifs=args.motifs,
            decoder=gi.sae.load_sae(sae_dir)[0].W_dec.detach().numpy(),
            progress=True,
        ).write(out),
    )
    catalog = pd.read_csv(out / "catalog.tsv", sep="\t")
    classes = catalog["class"].value_counts().to_dict()
    classes["matches_f1_0.5"] = int((catalog["test_element_f1"] >= 0.5).sum())
    return classes


def with_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Add whether the SAE's best feature beats the best neuron and the probe."""
    table["beats_neuron"] = verdict(table["eF1"], table["neuron_eF1"])
    table["beats_probe"] = verdict(table["eF1"], table["probe_eF1"])
    return table.reset_index()


def verdict(ours: pd.Series, baseline: pd.Series) -> np.ndarray:
    """yes / no / tie (within 0.005) / "-" (both below 0.01: nothing represented)."""
    return np.select(
        [np.maximum(ours, baseline) < 0.01, (ours - baseline).abs() < 0.005, ours > baseline],
        ["-", "tie", "yes"],
        default="no",
    )


def compare(sae_al, neuron_al, probe_al) -> pd.DataFrame:
    c = sae_al.concepts.set_index("concept")
    n = neuron_al.concepts.set_index("concept")
    p = probe_al.concepts.set_index("concept")
    table = pd.DataFrame(
        {
            "elements": c["elements_test"],
            "feature": c["single_feature"],
            "eF1": c["single_test_element_f1"],
            "precision": c["single_test_precision"],
            "el_recall": c["single_test_element_recall"],
            "nt_recall": c["single_test_recall"],
            "auroc": c["single_test_auroc"],
            "q": c["single_q_value"],
            "set": c["set_features"],
            "set_eF1": c["set_test_element_f1"],
            "set_F1": c["set_test_f1"],
            "set_q": c["set_q_value"],
            "neuron_eF1": n["single_test_element_f1"],
            "neuron_auroc": n["single_test_auroc"],
            "neuron_q": n["single_q_value"],
            "probe_eF1": p["single_test_element_f1"],
            "probe_auroc": p["single_test_auroc"],
            "probe_q": p["single_q_value"],
        }
    )
    return with_verdicts(table)


def train(work: Path, name: str, store: Path, layer: str, expansion: int, tokens: int) -> Path:
    """A TopK SAE like the demo's (k=32, lr 1.6e-3) on ``layer`` of ``store``."""
    out = work / name
    config = gi.sae.SAETrainConfig(
        sae=gi.sae.SAEConfig(architecture="topk", k=32, expansion_factor=expansion),
        data=gi.sae.DataConfig(store=str(store), layer=layer),
        optim=gi.sae.OptimConfig(lr=1.6e-3),
        tokens=tokens,
    )
    # train_sae writes metrics.json last and resumes from its checkpoint
    stage(
        out / "metrics.json", f"train {name}", lambda: gi.sae.train_sae(config, out, progress=True)
    )
    return out


def encode(work: Path, name: str, store, sae_dir: Path, tracks, layer: str):
    path = work / f"{name}.features.h5"
    stage(
        path,
        f"encode {name}",
        lambda: gi.features.encode(store, sae_dir, path, layer=layer, tracks=tracks, progress=True),
    )
    return gi.features.FeatureActivations(path)


def joint_mode(work, args, store, layer, tracks, run_align, summary):
    """The same number of features (1,536) trained on the joint strand view."""
    joint = store.joint_layer(layer)
    sae_dir = train(work, "joint_sae", args.store, joint, 8, args.sae_tokens)
    features = encode(work, "joint", store, sae_dir, tracks, joint)
    al = run_align("ecoli_joint", features, max_tests=0)  # per-concept tables only
    summary["joint_classes"] = rank_classes(
        work / "joint_catalog", al, features, "ecoli_k12", tracks, args, sae_dir
    )
    return al


def random_control(work, args, layer, tracks, run_align, summary):
    """The demo pipeline on a randomly initialised copy of the built-in model."""
    store_path = work / "random.acts.h5"
    stage(
        store_path,
        "extract E. coli with the random-init model",
        lambda: gi.acts.extract(
            gi.datasets.load("ecoli_k12").genome(),
            gi.models.random_tiny(seed=0),
            [layer],
            store_path,
            progress=True,
        ),
    )
    sae_dir = train(work, "random_sae", store_path, layer, 16, args.sae_tokens)
    store = gi.acts.ActivationStore(store_path)
    features = encode(work, "random", store, sae_dir, tracks, layer)
    al = run_align("ecoli_random", features, max_tests=0)  # per-concept tables only
    summary["random_classes"] = rank_classes(
        work / "random_catalog", al, features, "ecoli_k12", tracks, args, sae_dir
    )
    return al


def compare_modes(modes: dict) -> pd.DataFrame:
    """Held-out element-F1 of the best single feature and the best set, per mode."""
    columns = {}
    for name, al in modes.items():
        c = al.concepts.set_index("concept")
        columns[f"{name}: eF1"] = c["single_test_element_f1"]
        columns[f"{name}: q"] = c["single_q_value"]
        columns[f"{name}: set eF1"] = c["set_test_element_f1"]
    table = pd.DataFrame(columns)
    if "random-init model" in modes:
        table["single strand beats random-init"] = verdict(
            table["single strand: eF1"], table["random-init model: eF1"]
        )
    return table.reset_index()


def other_genome(
    work, args, sae_al, neuron_al, probe_al, probe_source, layer, summary
) -> pd.DataFrame:
    store_path = work / f"{OTHER}.acts.h5"
    stage(
        store_path,
        f"extract {OTHER}",
        lambda: gi.acts.extract(OTHER, "tiny", [layer], store_path, progress=True),
    )
    other_store = gi.acts.ActivationStore(store_path)
    tracks_path = work / f"{OTHER}.concepts.h5"
    stage(tracks_path, f"concepts {OTHER}", lambda: gi.concepts.build(OTHER).write(tracks_path))
    tracks = gi.concepts.ConceptTracks.read(tracks_path)
    feats = work / f"{OTHER}.features.h5"
    stage(
        feats,
        f"encode {OTHER}",
        lambda: gi.features.encode(other_store, args.sae, feats, tracks=tracks, progress=True),
    )
    whole = gi.align.WholeSplit()
    shared = [c for c in sae_al.counts.concepts if c in tracks.concepts]
    features = gi.features.FeatureActivations(feats)

    def counted(alignment, source):
        """The other genome's counts at E. coli's scale (one pass per source)."""
        return gi.align.count(
            source,
            tracks,
            scale=alignment.counts.scale,
            split=whole,
            concepts=shared,
            progress=True,
        )

    def transfer(alignment, source, counts=None, shifts=args.shifts, **kw):
        """E. coli's thresholds scored on the whole other genome, with p-values there."""
        counts = counts if counts is not None else counted(alignment, source)
        return gi.align.transfer(
            alignment, counts, source=source, tracks=tracks, n_shifts=shifts, **kw
        )

    sae_counts = counted(sae_al, features)
    sae = transfer(sae_al, features, sae_counts).set_index("concept")
    neurons = transfer(neuron_al, gi.align.neurons(other_store, layer)).set_index("concept")
    probe_other = gi.align.StoreSource(
        other_store, layer, probe_source.transform, probe_source.n_features
    )
    probe = transfer(probe_al, probe_other).set_index("concept")
    per_feature = transfer(
        sae_al, features, sae_counts, args.feature_shifts, best="feature", min_effect=0.5
    )
    per_feature.to_csv(work / "other_features.tsv", sep="\t", index=False, float_format="%.4f")
    known = per_feature[(per_feature["element_f1"] >= 0.5) & (per_feature["q_value"] < 0.05)]
    summary["other_known_with_ecoli_thresholds"] = int(len(known))
    summary["other_known_concepts"] = known["concept"].value_counts().to_dict()
    # the same pipeline with thresholds chosen on the other genome's own validation blocks
    own = work / "other_sae"
    stage(
        own / "concepts.tsv",
        f"align {OTHER} (own blocks)",
        lambda: gi.align.align(
            features,
            tracks,
            split=gi.align.BlockSplit(block=100_000),
            n_shifts=args.shifts,
            feature_shifts=args.feature_shifts,
            max_tests=args.max_tests,
            progress=True,
        ).write(own),
    )
    summary["other_classes"] = rank_classes(
        work / "other_catalog",
        gi.align.Alignment.read(own),
        features,
        OTHER,
        tracks,
        args,
        args.sae,
    )
    table = pd.DataFrame(
        {
            "elements": sae["elements"],
            "feature": sae["feature"],
            "eF1": sae["element_f1"],
            "precision": sae["precision"],
            "el_recall": sae["element_recall"],
            "nt_recall": sae["recall"],
            "auroc": sae["auroc"],
            "q": sae["q_value"],
            "neuron_eF1": neurons["element_f1"],
            "neuron_q": neurons["q_value"],
            "probe_eF1": probe["element_f1"],
            "probe_q": probe["q_value"],
        }
    )
    return with_verdicts(table)


def general(ecoli: pd.DataFrame, other: pd.DataFrame, catalog: Path) -> pd.DataFrame:
    """The 12 general concepts on both genomes: the best single SAE feature (chosen on E. coli
    validation blocks), its family and size, the best neuron and the probe; known means
    element-F1 >= 0.5 with q < 0.05 on that genome."""
    families = pd.read_csv(catalog / "catalog.tsv", sep="\t").set_index("feature")["family"]
    sizes = families.value_counts()
    table = pd.DataFrame({"concept": GENERAL})
    for name, scores in (("ecoli", ecoli), ("other", other)):
        s = scores.set_index("concept").reindex(GENERAL)
        table[f"{name}_feature"] = s["feature"].to_numpy()
        table[f"{name}_eF1"] = s["eF1"].to_numpy()
        table[f"{name}_q"] = s["q"].to_numpy()
        table[f"{name}_known"] = ((s["eF1"] >= KNOWN_F1) & (s["q"] < ALPHA)).to_numpy()
        table[f"{name}_neuron_eF1"] = s["neuron_eF1"].to_numpy()
        table[f"{name}_probe_eF1"] = s["probe_eF1"].to_numpy()
    family = table["ecoli_feature"].map(families)
    table.insert(2, "family", family)
    table.insert(3, "family_size", family.map(sizes))
    return table


def families_by_concept(catalog: Path) -> pd.DataFrame:
    """Concepts x families: for each concept, its known features, the families they fall in,
    the largest of those families (all members) and how many are single features, and the
    best known feature's held-out element-F1; then the candidate families."""
    table = pd.read_csv(catalog / "catalog.tsv", sep="\t")
    sizes = table["family"].value_counts()
    rows = []
    for concept, group in table[table["class"] == "known"].groupby("best_concept"):
        families = group["family"].unique()
        rows.append(
            {
                "concept": concept,
                "known_features": len(group),
                "families": len(families),
                "largest_family": int(sizes[families].max()),
                "single_feature_families": int((sizes[families] == 1).sum()),
                "best_feature": int(group.loc[group["test_element_f1"].idxmax(), "feature"]),
                "best_eF1": float(group["test_element_f1"].max()),
            }
        )
    out = pd.DataFrame(rows).sort_values("known_features", ascending=False)
    candidates = table[table["class"] == "candidate_novel"]
    families = candidates["family"].unique()
    rows = {
        "concept": "(candidate novel)",
        "known_features": 0,
        "families": len(families),
        "largest_family": int(sizes[families].max()) if len(families) else 0,
        "single_feature_families": int((sizes[families] == 1).sum()),
    }
    return pd.concat([out, pd.DataFrame([rows])], ignore_index=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
