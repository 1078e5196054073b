"""Gather a run's results and write them as ``RUN/report/index.html`` with its assets."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import __version__
from .._atomic import atomic_path
from .._rundir import RunDir, relative_path
from ._html import render
from ._options import N_FEATURES

log = logging.getLogger(__name__)
ASSETS = Path(__file__).parent / "assets"


@dataclass
class ReportData:
    """Everything the report shows, read from a run folder.

    Attributes
    ----------
    run
        ``run.json`` plus the model, layer and SAE settings.
    sae
        The SAE's architecture and size, and its evaluation (``sae/eval.json``) when present.
    concepts
        One row per concept: best SAE feature and feature set with test scores and
        q-values, and the best neuron and probe when ``RUN/baselines`` has them.
    known, candidates
        Catalog rows of the best members of the known and candidate families, best
        family first (of the known and candidate-novel features, for a catalog written
        before families were made).
    families
        ``catalog/families.tsv`` (None for such an older catalog).
    known_concepts
        One row per best concept of the known features: their families, known features,
        all members of those families, and the best known feature with its family.
    summary
        The run's :class:`~genointerp.rank.FamilySummary` (None for an older catalog).
    sites
        Top sites of those features (``catalog/top_sites.tsv``).
    """

    run: dict
    sae: dict
    concepts: pd.DataFrame
    known: pd.DataFrame
    candidates: pd.DataFrame
    sites: pd.DataFrame
    classes: dict[str, int]
    figures: dict[str, str] = field(default_factory=dict)  # name -> path inside the report
    viewer: str | None = None  # the viewer page, relative to the report
    families: pd.DataFrame | None = None
    summary: object | None = None  # genointerp.rank.FamilySummary
    known_concepts: pd.DataFrame | None = None
    attributions: set[int] = field(default_factory=set)  # features with an attribution logo


def collect(run_dir: str | Path, n_features: int = N_FEATURES) -> ReportData:
    """Read what the report shows from ``run_dir`` (catalog, alignment, SAE, run.json)."""
    from ..rank import read_summary

    run = RunDir(run_dir)
    folder = run.file("catalog")
    catalog = pd.read_csv(folder / "catalog.tsv", sep="\t")
    families = by_concept = None
    if (folder / "families.tsv").is_file():
        families = pd.read_csv(folder / "families.tsv", sep="\t")
        known = _leaders(catalog, families, "known", n_features)
        novel = _leaders(catalog, families, "candidate_novel", n_features)
        by_concept = _known_by_concept(catalog, families)
    else:  # a catalog written before families: features, best first
        known = catalog[catalog["class"] == "known"].sort_values("test_element_f1", ascending=False)
        novel = catalog[catalog["class"] == "candidate_novel"]
        novel = novel.sort_values("novelty", ascending=False)
        known, novel = known.head(n_features), novel.head(n_features)
    sites = pd.read_csv(folder / "top_sites.tsv", sep="\t")
    shown = set(known["feature"]) | set(novel["feature"])
    return ReportData(
        run=_run_info(run),
        sae=_sae_info(run),
        concepts=_concept_table(run),
        known=known,
        candidates=novel,
        sites=sites[sites["feature"].isin(shown)],
        classes=catalog["class"].value_counts().to_dict(),
        families=families,
        summary=read_summary(folder),
        known_concepts=by_concept,
    )


def _known_by_concept(catalog: pd.DataFrame, families: pd.DataFrame) -> pd.DataFrame:
    """Per best concept of the known features (best first): families holding them, known
    features, members of those families, and the best known feature and its family."""
    known = catalog[catalog["class"] == "known"].sort_values("test_element_f1", ascending=False)
    size = families.set_index("family")["size"]
    rows = []
    for concept, group in known.groupby("best_concept", sort=False):
        best = group.iloc[0]
        rows.append(
            {
                "concept": concept,
                "families": group["family"].nunique(),
                "known_features": len(group),
                "features": int(size.reindex(group["family"].unique()).sum()),
                "best_feature": int(best["feature"]),
                "best_family": int(best["family"]),
                "best_family_size": int(size.get(best["family"], 1)),
                "test_element_f1": best["test_element_f1"],
            }
        )
    return pd.DataFrame(rows)


def _leaders(catalog: pd.DataFrame, families: pd.DataFrame, cls: str, n: int) -> pd.DataFrame:
    """Catalog rows of the best members of the first ``n`` families of class ``cls`` (the
    families table is in reading order), with the family's ``size``."""
    chosen = families[families["class"] == cls].head(n)
    rows = catalog.set_index("feature").loc[chosen["best_feature"]].reset_index()
    rows["family_size"] = chosen["size"].to_numpy()
    rows["family_members"] = chosen["members"].astype(str).to_numpy()
    return rows


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    n_features: int = N_FEATURES,
    figures: bool = True,
) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default ``RUN/report``); returns index.html.

    The folder is self-contained: plots and logos are copied into ``assets/``, and the
    page needs no server and no network.  It links to the genome viewer
    (``RUN/viewer``, served by ``genointerp view RUN``) when the run has one.

    Parameters
    ----------
    n_features
        Known and candidate-novel features listed with their evidence (each).
    figures
        Draw the run's plots (:func:`genointerp.pl.write_figures`) into ``assets/``.
    """
    run = RunDir(run_dir)
    out = Path(out) if out is not None else run.place("report")
    data = collect(run.path, n_features)
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    _copy(ASSETS / "report.css", assets / "report.css")
    if figures:
        data.figures = _figures(run, assets)
    _copy_logos(run, data, assets)
    data.attributions = _copy_attributions(run, data, assets)
    if run.has("viewer"):
        data.viewer = relative_path(run.place("viewer") / "index.html", out)
    with atomic_path(out / "index.html", suffix=".html") as tmp:
        tmp.write_text(render(data, version=__version__), encoding="utf-8")
    log.info("report -> %s", out / "index.html")
    return out / "index.html"


def _run_info(run: RunDir) -> dict:
    info = dict(run.info)
    if run.has("features"):
        from ..features import FeatureActivations

        with FeatureActivations(run.file("features")) as fa:
            info.setdefault("model_id", fa.model_id)
            info.setdefault("layer", fa.layer)
            info["contigs"] = fa.contigs
            info["strands"] = fa.strands
    return info


def _sae_info(run: RunDir) -> dict:
    if not run.has("sae"):
        return {}
    cfg = json.loads((run.file("sae") / "cfg.json").read_text())
    own = cfg.get("genointerp", {})
    info = {
        "architecture": own.get("sae", {}).get("architecture", cfg.get("architecture")),
        "d_sae": cfg.get("d_sae"),
        "d_in": cfg.get("d_in"),
        "k": own.get("sae", {}).get("k"),
        "tokens": own.get("provenance", {}).get("tokens"),
    }
    metrics = run.file("sae") / "eval.json"
    if metrics.is_file():
        info["eval"] = json.loads(metrics.read_text())
    return info


def _concept_table(run: RunDir) -> pd.DataFrame:
    table = pd.read_csv(run.file("alignment") / "concepts.tsv", sep="\t")
    keep = [
        "concept",
        "elements_test",
        "single_feature",
        "single_test_element_f1",
        "single_test_precision",
        "single_test_auroc",
        "single_q_value",
        "set_features",
        "set_test_element_f1",
        "set_q_value",
    ]
    table = table[[c for c in keep if c in table.columns]]
    for name, base in run.baseline_concepts().items():
        base = base.set_index("concept")
        table[f"{name}_element_f1"] = table["concept"].map(base["single_test_element_f1"])
        table[f"{name}_q_value"] = table["concept"].map(base.get("single_q_value"))
    return table


def _figures(run: RunDir, assets: Path) -> dict[str, str]:
    from ..pl import write_figures

    written = write_figures(run.path, assets / "plots")
    return {name: relative_path(path, assets.parent) for name, path in written.items()}


def _copy_logos(run: RunDir, data: ReportData, assets: Path) -> None:
    folder = run.file("catalog") / "logos"
    _copy_shown(data, assets / "logos", lambda row, name: folder / name)


def _copy_attributions(run: RunDir, data: ReportData, assets: Path) -> set[int]:
    """Copy the attribution logos of the shown features (``genointerp intervene
    attribute``: the catalog's ``attribution_logo``, else ``RUN/intervene/attribution``);
    returns their features."""
    folder = run.path / "intervene" / "attribution"

    def source(row: dict, name: str) -> Path:
        where = row.get("attribution_logo")
        if isinstance(where, str) and Path(where).is_file():
            return Path(where)
        return folder / name

    return _copy_shown(data, assets / "attribution", source)


def _copy_shown(data: ReportData, target: Path, source) -> set[int]:
    """Copy ``source(row, "feature_<id>.png")`` of every shown feature that has one into
    ``target``; returns the features copied."""
    copied = set()
    for row in [*data.known.to_dict("records"), *data.candidates.to_dict("records")]:
        feature = int(row["feature"])
        name = f"feature_{feature}.png"
        path = source(row, name)
        if path.is_file():
            target.mkdir(exist_ok=True)
            _copy(path, target / name)
            copied.add(feature)
    return copied


def _copy(source: Path, target: Path) -> None:
    """Copy through a temporary file: a killed report leaves no truncated asset."""
    with atomic_path(target, suffix=target.suffix) as tmp:
        shutil.copyfile(source, tmp)
