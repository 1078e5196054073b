"""Layer sweep: what a linear probe finds at every layer of a model, one strand and the
joint strand view, on E. coli's held-out blocks and on S. pyogenes (never seen).

    python benchmarks/layer_sweep.py --weights v2 --work sweep_v2

For each layer the probe (``gi.align.probe``: one logistic regression per concept, fitted on
E. coli's validation blocks) is scored like any feature source (``gi.align.align``: element-F1
on the test blocks at the threshold chosen on validation), and its E. coli thresholds are
scored on the whole S. pyogenes genome (``gi.align.transfer``). The probe is the ceiling of
what is linearly readable at that layer. Layers are extracted a few at a time (``--group``)
and their stores deleted once scored, so the disk holds at most a group; every finished
(layer, mode) is cached in ``--work`` as a TSV, so a rerun resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from results import GENERAL, OTHER, stage

import genointerp as gi

MODES = {"one strand": "", "joint strands": gi.acts.JOINT_SUFFIX}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="v1", help="shipped version (v1, v2) or a folder")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--layers", nargs="*", help="default: every layer of the model")
    ap.add_argument("--group", type=int, default=3, help="layers extracted per pass")
    ap.add_argument("--shifts", type=int, default=19, help="circular shifts for the p-values")
    ap.add_argument("--probe-steps", type=int, default=100, help="L-BFGS iterations")
    ap.add_argument("--skip-other", action="store_true", help="E. coli only")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    model = gi.models.load_model("tiny", args.weights)
    layers = args.layers or model.layers
    tracks = {"ecoli_k12": concept_tracks(work, "ecoli_k12")}
    if not args.skip_other:
        tracks[OTHER] = concept_tracks(work, OTHER)
    for start in range(0, len(layers), args.group):
        group = layers[start : start + args.group]
        todo = [(layer, mode) for layer in group for mode in MODES if not done(work, layer, mode)]
        if not todo:
            continue
        stores = {name: extract(work, name, model, group) for name in tracks}
        for layer, mode in todo:
            score(work, stores, tracks, layer, mode, args)
        for path in stores.values():
            path.unlink()
    table = collect(work, model.layers)  # every layer scored so far, in depth order
    table.to_csv(work / "sweep.tsv", sep="\t", index=False, float_format="%.4f")
    best = best_layers(table)
    print(best.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    lines = [best.to_markdown(index=False, floatfmt=".3f"), ""]
    for mode in MODES:
        for genome in ("ecoli", "other"):
            if f"{genome}_eF1" in table:
                lines += [f"{genome} test element-F1, {mode}:", "", wide(table, mode, genome), ""]
    (work / "sweep.md").write_text("\n".join(lines))


def concept_tracks(work: Path, dataset: str) -> gi.concepts.ConceptTracks:
    path = work / f"{dataset}.concepts.h5"
    stage(
        path,
        f"concepts {dataset}",
        lambda: gi.concepts.build(dataset, concepts=GENERAL).write(path),
    )
    return gi.concepts.ConceptTracks.read(path)


def extract(work: Path, dataset: str, model, layers: list[str]) -> Path:
    path = work / f"{dataset}.acts.h5"
    stage(
        path,
        f"extract {dataset}: {', '.join(layers)}",
        lambda: gi.acts.extract(dataset, model, layers, path, overwrite=True, progress=True),
    )
    return path


def result_path(work: Path, layer: str, mode: str) -> Path:
    return work / "scores" / f"{layer}.{mode.replace(' ', '_')}.tsv"


def done(work: Path, layer: str, mode: str) -> bool:
    return result_path(work, layer, mode).exists()


def score(work: Path, stores: dict, tracks: dict, layer: str, mode: str, args) -> None:
    """Fit the probe on E. coli's validation blocks; score it there and on the other genome."""
    split = gi.align.BlockSplit(block=100_000)
    ecoli = gi.acts.ActivationStore(stores["ecoli_k12"])
    name = layer + MODES[mode]
    source = gi.align.probe(
        ecoli, name, tracks["ecoli_k12"], split, concepts=GENERAL, steps=args.probe_steps
    )
    settings = {"candidates": 1, "min_effect": 2.0, "own_feature": True, "max_tests": 0}
    alignment = gi.align.align(
        source,
        tracks["ecoli_k12"],
        split=split,
        concepts=GENERAL,
        n_shifts=args.shifts,
        progress=False,
        **settings,
    )
    c = alignment.concepts.set_index("concept")
    rows = pd.DataFrame(
        {
            "layer": layer,
            "mode": mode,
            "concept": c.index,
            "ecoli_eF1": c["single_test_element_f1"].to_numpy(),
            "ecoli_auroc": c["single_test_auroc"].to_numpy(),
            "ecoli_q": c["single_q_value"].to_numpy(),
        }
    )
    if OTHER in stores:
        other = gi.acts.ActivationStore(stores[OTHER])
        moved = gi.align.StoreSource(other, name, source.transform, source.n_features)
        counts = gi.align.count(
            moved,
            tracks[OTHER],
            scale=alignment.counts.scale,
            split=gi.align.WholeSplit(),
            concepts=GENERAL,
        )
        t = gi.align.transfer(
            alignment, counts, source=moved, tracks=tracks[OTHER], n_shifts=args.shifts
        ).set_index("concept")
        rows["other_eF1"] = t["element_f1"].reindex(c.index).to_numpy()
        rows["other_q"] = t["q_value"].reindex(c.index).to_numpy()
    out = result_path(work, layer, mode)
    out.parent.mkdir(exist_ok=True)
    rows.to_csv(out.with_suffix(".partial"), sep="\t", index=False)
    out.with_suffix(".partial").rename(out)  # a killed run leaves no half-written score
    best = rows.sort_values("ecoli_eF1").iloc[-1]
    print(f"{layer:>10} {mode:13}  best {best['concept']} {best['ecoli_eF1']:.3f}", flush=True)


def collect(work: Path, layers: list[str]) -> pd.DataFrame:
    parts = [
        pd.read_csv(result_path(work, layer, mode), sep="\t")
        for layer in layers
        for mode in MODES
        if done(work, layer, mode)
    ]
    return pd.concat(parts, ignore_index=True)


def wide(table: pd.DataFrame, mode: str, genome: str) -> str:
    """Concepts x layers (in depth order) of one mode, as a markdown table."""
    rows = table[table["mode"] == mode]
    grid = rows.pivot(index="concept", columns="layer", values=f"{genome}_eF1")
    order = list(dict.fromkeys(rows["layer"]))
    return grid.loc[GENERAL, order].to_markdown(floatfmt=".2f")


def best_layers(table: pd.DataFrame) -> pd.DataFrame:
    """Each concept's best (layer, mode) by E. coli test element-F1, with S. pyogenes there."""
    best = table.loc[table.groupby("concept")["ecoli_eF1"].idxmax()]
    return best.set_index("concept").loc[GENERAL].reset_index()


if __name__ == "__main__":
    main()
