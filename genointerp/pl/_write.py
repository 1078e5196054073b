"""The standard figures of a run, written as PNGs for the report and the demo."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import names
from .._atomic import atomic_path
from .._rundir import RunDir
from ..errors import GenointerpError
from ._align import alignment_heatmap, read_alignment, sae_vs_baselines, threshold_curve
from ._common import offscreen_figure, save_figure
from ._evidence import codon_phase, element_distance, site_logo
from ._feature_map import embed_features, feature_map
from ._geometry import geometry
from ._tracks import default_lanes, parse_region, tracks

log = logging.getLogger(__name__)

"""``RUN/baselines/<name>/``: the neuron and probe baselines' alignments, when made
(``genointerp demo --baselines``, or ``genointerp align --neurons / --probe -o ...``)."""
TRACK_WINDOW = 12_000  # nt shown by the default track plot
TRACK_FEATURES = 4  # known features in the default track plot (plus the top candidate)


def write_figures(
    run_dir, out_folder, *, region=None, dpi: int = 110, embed: bool = True
) -> dict[str, Path]:
    """Write the standard PNGs of a run folder, each atomically.

    * ``tracks``: the best known features (one per kind of concept) and the top candidate
      along a region, with the annotation lanes;
    * ``alignment_heatmap``: concepts x their best features, held-out element-F1;
    * ``sae_vs_baselines``: SAE feature and feature set against the neuron and probe
      baselines, per concept (baselines drawn when ``RUN/baselines/neurons`` /
      ``RUN/baselines/probe`` hold their alignments);
    * for the top known feature (``known_*``) and the top candidate novel one
      (``candidate_*``): ``_logo``, ``_codon_phase``, ``_distance``, ``_threshold``;
    * ``feature_map`` (by class) and ``feature_map_concept`` (known features by concept):
      UMAP of the decoder directions;
    * ``geometry``: one known family's sites in the layer's first two principal components
      (:func:`genointerp.rank.family_geometry`), labelled by codon position when the
      family's best feature reads a codon position or coding sequence, else in/out of its
      best concept; the best such family, else the best known family.  Its numbers
      (:meth:`~genointerp.rank.Geometry.summary`) go beside it as ``geometry.tsv``.
      Needs ``activations.h5`` and ``catalog/families.tsv``.

    Parameters
    ----------
    run_dir
        The run folder (see :class:`genointerp._rundir.RunDir`); needs ``catalog/``, and
        uses ``alignment/``, ``features.h5``, ``concepts.h5``, ``activations.h5`` and
        ``catalog/families.tsv`` when present.
    out_folder
        Where the PNGs go (created).
    region
        Region of the track plot (``"contig:start-end"``, 0-based); default a window
        where the chosen features' concepts or sites lie together.
    dpi
        Resolution.
    embed
        Also embed the features (UMAP) and draw the maps (the slowest figures).

    Returns
    -------
    ``{name: path}`` of the figures written (names above; a figure whose inputs the run
    lacks, e.g. no candidate novel feature, is left out).

    Examples
    --------
    >>> figures = gi.pl.write_figures("demo", "demo/report/figures")    # doctest: +SKIP
    >>> sorted(figures)[:2]                                             # doctest: +SKIP
    ['alignment_heatmap', 'candidate_codon_phase']
    """
    run = RunDir(run_dir)
    catalog = run.file("catalog")
    out = Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(catalog / "catalog.tsv", sep="\t")
    sites = pd.read_csv(catalog / "top_sites.tsv", sep="\t")
    alignment = read_alignment(run.file("alignment")) if run.has("alignment") else None
    written: dict[str, Path] = {}

    def save(name: str, fig, filename: str | None = None) -> None:
        written[name] = save_figure(fig, out / (filename or f"{name}.png"), dpi=dpi)

    started = time.perf_counter()
    if run.has("features") and run.has("concepts"):
        save("tracks", _track_figure(run, table, sites, region))
    if alignment is not None:
        _alignment_figures(run, alignment, save)
    for kind, feature in _top_features(table).items():
        for name, fig in _evidence_figures(feature, table, sites, alignment).items():
            save(f"{kind}_{name}", fig, f"{kind}_f{feature}_{name}.png")
    if embed and (catalog / "catalog.h5ad").is_file():
        for name, fig in _feature_maps(catalog / "catalog.h5ad").items():
            save(name, fig)
    fig = _geometry_figure(run, table, out)
    if fig is not None:
        save("geometry", fig)
    log.info("wrote %d figures to %s in %.1f s", len(written), out, time.perf_counter() - started)
    return written


def _top_features(table: pd.DataFrame) -> dict[str, int]:
    """The best known feature (held-out element-F1) and the top candidate (novelty)."""
    picks = {}
    known = table[table["class"] == "known"].sort_values("test_element_f1", ascending=False)
    novel = table[table["class"] == "candidate_novel"].sort_values("novelty", ascending=False)
    if len(known):
        picks["known"] = int(known["feature"].iloc[0])
    if len(novel):
        picks["candidate"] = int(novel["feature"].iloc[0])
    return picks


def _track_features(table: pd.DataFrame, ct) -> list[int]:
    """Up to TRACK_FEATURES known features, one per concept group first, then one per
    concept, then the next best; then the top candidate.  Without known features: the
    best-matching alive ones."""
    alive = table[table["density"] > 0]
    known = alive[alive["class"] == "known"]
    pool = (known if len(known) else alive).sort_values("test_element_f1", ascending=False)
    group = {s.name: s.group for s in ct.specs}
    best = table.set_index("feature")["best_concept"]
    chosen: list[int] = []
    for key in (lambda f: group.get(best[f], best[f]), lambda f: best[f], lambda f: f):
        seen = {key(f) for f in chosen}
        for feature in pool["feature"]:
            if len(chosen) < TRACK_FEATURES and key(feature) not in seen:
                chosen.append(int(feature))
                seen.add(key(feature))
    candidate = _top_features(table).get("candidate")
    return chosen + ([candidate] if candidate is not None else [])


def _track_figure(run: RunDir, table, sites, region):
    from ..concepts import ConceptTracks
    from ..features import FeatureActivations

    ct = ConceptTracks.read(run.file("concepts"))
    shown = _track_features(table, ct)
    rows = table.set_index("feature")
    with FeatureActivations(run.file("features")) as fa:
        contig, start, end = parse_region(
            region or _default_region(ct, shown, rows["best_concept"], sites, fa.contigs),
            fa.contigs,
        )
        known = [rows.loc[f, "best_concept"] for f in shown if rows.loc[f, "class"] == "known"]
        lanes = list(dict.fromkeys(default_lanes(ct, contig, start, end) + known))
        fig = offscreen_figure((10, 4))
        tracks(
            fa, ct, (contig, start, end), features=shown, annotation=lanes, catalog=table, fig=fig
        )
    fig.set_size_inches(10, 1.0 * len(shown) + 0.34 * len(lanes) + 1.4)
    return fig


def _default_region(ct, shown, best, sites, lengths) -> tuple[str, int, int]:
    """The TRACK_WINDOW window where most shown features have evidence: an element of
    their best concept (known features) or one of their top sites (the others)."""
    contig = max(lengths, key=lengths.get)
    points = []
    for feature in shown:
        mine = sites[(sites["feature"] == feature) & (sites["contig"] == contig)]["position"]
        elements = ct.elements(best[feature])
        elements = elements[elements[names.CHROM] == contig]
        mids = (elements[names.START] + elements[names.END]) // 2
        use = mids if 0 < len(mids) <= 5_000 else mine
        points.append(np.sort(np.asarray(use, dtype=np.int64)))
    centres = np.unique(np.concatenate(points + [np.array([TRACK_WINDOW // 2])]))
    if len(centres) > 3_000:
        centres = centres[:: len(centres) // 3_000 + 1]
    score = np.zeros(len(centres))
    for p in points:
        n = np.searchsorted(p, centres + TRACK_WINDOW // 2) - np.searchsorted(
            p, centres - TRACK_WINDOW // 2
        )
        score += (n > 0) * 1_000 + np.log1p(n)
    centre = int(centres[np.argmax(score)])
    start = int(np.clip(centre - TRACK_WINDOW // 2, 0, max(lengths[contig] - TRACK_WINDOW, 0)))
    return contig, start, min(start + TRACK_WINDOW, lengths[contig])


def _alignment_figures(run: RunDir, alignment, save) -> None:
    fig = offscreen_figure((8, 6))
    ax = alignment_heatmap(alignment, ax=fig.add_subplot())
    rows, cols = len(ax.get_yticks()), len(ax.get_xticks())
    fig.set_size_inches(max(4.5, 0.36 * cols + 3.2), max(2.8, 0.26 * rows + 1.6))
    save("alignment_heatmap", fig)
    fig = offscreen_figure((6, 6))
    ax = sae_vs_baselines(alignment, ax=fig.add_subplot(), **run.baseline_concepts())
    n_series = len(ax.containers)
    fig.set_size_inches(6.5, 0.11 * n_series * len(ax.get_yticks()) + 1.6)
    save("sae_vs_baselines", fig)


def _evidence_figures(feature: int, table, sites, alignment) -> dict:
    row = table.set_index("feature").loc[feature]
    figures = {}
    fig = offscreen_figure((7.5, 1.9))
    site_logo(sites, feature, ax=fig.add_subplot())
    figures["logo"] = fig
    if np.isfinite(row[["phase0", "phase1", "phase2"]].to_numpy(dtype=float)).any():
        fig = offscreen_figure((5.2, 2.8))
        codon_phase(table, feature, ax=fig.add_subplot())
        figures["codon_phase"] = fig
    medians = row.filter(like="median_dist_").astype(float).sort_values()
    nearest = [c.removeprefix("median_dist_") for c in medians.index if np.isfinite(medians[c])]
    concepts = list(dict.fromkeys([row["best_concept"], *nearest]))[:3]
    fig = offscreen_figure((6.0, 2.8))
    element_distance(sites, feature, concepts, ax=fig.add_subplot())
    figures["distance"] = fig
    if alignment is not None:
        fig = offscreen_figure((6.2, 3.2))
        threshold_curve(alignment, feature, row["best_concept"], ax=fig.add_subplot())
        figures["threshold"] = fig
    return figures


def _feature_maps(path: Path) -> dict:
    import anndata as ad

    adata = ad.read_h5ad(path)
    if "decoder" not in adata.obsm:
        log.info("%s has no decoder directions; no feature map", path)
        return {}
    embed_features(adata)
    figures = {}
    for name, color in (("feature_map", "class"), ("feature_map_concept", "best_concept")):
        fig = offscreen_figure((6.8, 4.6))
        feature_map(adata, color, ax=fig.add_subplot())
        figures[name] = fig
    return figures


def _geometry_pick(families: pd.DataFrame, table: pd.DataFrame):
    """The known family to draw and the concept that labels its sites: the best family whose
    best feature reads a codon position or coding sequence (sites labelled by codon
    position: ``codon``), else the best known family (its best feature's concept); None
    without a known family."""
    from ..rank._geometry import CODON_CONCEPTS

    known = families[families["class"] == "known"]
    known = known.sort_values("test_element_f1", ascending=False, kind="stable")
    if not len(known):
        return None
    concept = known["best_feature"].map(table.set_index("feature")["best_concept"])
    codon = known[concept.isin([*CODON_CONCEPTS, "cds"])]  # coding features cycle by phase
    if len(codon):
        return codon.iloc[0], "codon"
    return known.iloc[0], str(concept.iloc[0])


def _geometry_figure(run: RunDir, table: pd.DataFrame, out: Path):
    """The ``geometry`` figure, with ``geometry.tsv`` beside it; None (and no ``geometry.tsv``)
    when the run lacks an input, has no known family, or the family never fires."""
    (out / "geometry.tsv").unlink(missing_ok=True)  # never the numbers of an earlier drawing
    families = run.place("catalog") / "families.tsv"
    missing = [n for n in ("activations", "features", "concepts") if not run.has(n)]
    missing += [] if families.is_file() else ["catalog/families.tsv"]
    if missing:
        log.info("no geometry figure: the run has no %s", ", ".join(missing))
        return None
    pick = _geometry_pick(pd.read_csv(families, sep="\t"), table)
    if pick is None:
        log.info("no geometry figure: the run has no known family")
        return None
    family, concept = pick
    started = time.perf_counter()
    try:
        found, about = _family_geometry(run, family, concept)
    except GenointerpError as err:
        log.info("no geometry figure for family %s: %s", family["family"], err)
        return None
    with atomic_path(out / "geometry.tsv", suffix=".tsv") as tmp:
        pd.DataFrame([{**about, **found.summary()}]).to_csv(tmp, sep="\t", index=False)
    log.info(
        "geometry of family %d (%s, %d sites): %s, in %.1f s",
        about["family"],
        concept,
        len(found.labels),
        found.shape,
        time.perf_counter() - started,
    )
    fig = offscreen_figure((6.6, 4.4))
    sites = "by codon position" if concept == "codon" else f"in and outside {concept}"
    title = (
        f"family {about['family']} ({about['members']} features), best feature "
        f"{about['best_feature']}, {about['layer']}\nsites {sites}"
    )
    legend = None if concept == "codon" else concept
    geometry(found, title=title, concept=legend, ax=fig.add_subplot())
    return fig


def _family_geometry(run: RunDir, family: pd.Series, concept: str):
    """:func:`genointerp.rank.family_geometry` of one row of ``families.tsv`` at the layer
    the SAE read, and the row's identity for ``geometry.tsv``."""
    from ..acts import ActivationStore
    from ..concepts import ConceptTracks
    from ..features import FeatureActivations
    from ..rank import family_geometry
    from ..rank._geometry import CODON_CONCEPTS

    members = [int(m) for m in str(family["members"]).split(",")]
    tracks = ConceptTracks.read(run.file("concepts"))
    needed = CODON_CONCEPTS if concept == "codon" else (concept,)
    if not set(needed) <= set(tracks.concepts):
        raise GenointerpError(f"concepts {needed} are not all in {run.file('concepts')}")
    with (
        ActivationStore(run.file("activations")) as store,
        FeatureActivations(run.file("features")) as fa,
    ):
        found = family_geometry(store, fa.layer, fa, members, tracks, concept)
        layer = fa.layer
    about = {
        "family": int(family["family"]),
        "best_feature": int(family["best_feature"]),
        "members": len(members),
        "concept": concept,
        "layer": layer,
    }
    return found, about
