"""``export_run``: every browser file of a run folder, indexed by ``tracks.json``."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._rundir import RunDir, relative_path
from ..errors import GenointerpError
from ._bed import concept_beds
from ._bigfiles import bed_to_bigbed
from ._contigs import ContigNames
from ._features import FeatureExport, feature_tracks
from ._genome import GenomeFiles, genome_files
from ._index import Track, write_tracks_json
from ._options import BEDGRAPH, BIGWIG, CONTIG_NAMES, N_KNOWN, N_NOVEL
from ._select import parse_regions, read_catalog, select_features
from ._sessions import igv_session, track_hub

log = logging.getLogger(__name__)

# concepts shown as annotation lanes (genes, RNAs, repeats, mobile elements, promoters)
ANNOTATION_LANES = (
    "gene",
    "cds",
    "trna",
    "rrna",
    "ncrna",
    "rep_repeat",
    "repeat",
    "transposable_element",
    "mobile_element",
    "prophage",
    "crispr_array",
    "promoter",
)
LOCUS_WIDTH = 20_000  # bp shown by default


@dataclass
class ExportResult:
    """What :func:`export_run` wrote.

    Attributes
    ----------
    folder
        The export folder (``RUN/tracks`` by default).
    index
        ``tracks.json``.
    genome
        The genome files (FASTA, .fai, .2bit, chrom.sizes, chromAlias.txt).
    tracks
        Every exported track file.
    features
        The exported features' catalog rows, with their ``threshold`` and ``n_sites``.
    igv_session, hub
        ``igv_session.xml`` and ``hub/hub.txt``.
    contig_names
        The browser name of each contig.
    seconds
        Wall time of the export.
    """

    folder: Path
    index: Path
    genome: GenomeFiles
    tracks: list[Track]
    features: pd.DataFrame
    igv_session: Path
    hub: Path
    contig_names: ContigNames
    seconds: float

    @property
    def n_bytes(self) -> int:
        """Total size of the files in the export folder."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def __repr__(self) -> str:
        return (
            f"ExportResult({str(self.folder)!r}, {len(self.features)} features, "
            f"{len(self.tracks)} tracks, {self.n_bytes / 1e6:.1f} MB, {self.seconds:.1f} s)"
        )


def export_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    features: Iterable[int] | None = None,
    classes: Sequence[str] | None = None,
    concepts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    n_known: int | None = N_KNOWN,
    n_novel: int | None = N_NOVEL,
    per_family: bool = True,
    contig_names: str | Path | Mapping[str, str] = CONTIG_NAMES,
    bigwig: bool = BIGWIG,
    bedgraph: bool = BEDGRAPH,
    progress: bool = False,
) -> ExportResult:
    """Export a run's genome, concept tracks and chosen features for genome browsers.

    Writes, under ``out`` (default ``RUN/tracks``): ``genome/`` (FASTA + .fai, .2bit,
    chrom.sizes, chromAlias.txt), ``concepts/`` (one BED + bigBed per concept),
    ``features/`` (per feature: sites BED + bigBed, activation bigWig per strand; per
    class: all sites), ``igv_session.xml``, ``hub/`` (a UCSC assembly hub) and, last,
    ``tracks.json``, the index the viewer and the report read.

    Parameters
    ----------
    run_dir
        The run folder (``genointerp demo`` or the stage commands wrote it).
    out
        Export folder (default ``RUN/tracks``).
    features
        Export exactly these feature ids.
    classes
        Classes to export (default ``known`` and ``candidate_novel``).
    concepts
        Only features whose best concept is one of these.
    regions
        Only sites and activations inside these regions (``"contig:start-end"``, 1-based
        inclusive, or a whole contig).
    n_known, n_novel
        How many known (best held-out element-F1 first) and candidate-novel (most novel
        first) features; None for all.
    per_family
        Only the best member of each feature family (default); False takes near-copies too.
    contig_names
        ``"genome"``, ``"chr"``, ``"accession"``, a dict or an alias-table path (see
        :class:`ContigNames`).
    bigwig, bedgraph
        Write activations as bigWig (default) and/or bedGraph.
    progress
        Show a progress bar.

    Returns
    -------
    ExportResult

    Examples
    --------
    >>> import genointerp as gi
    >>> result = gi.export.export_run("genointerp_demo", contig_names="chr")  # doctest: +SKIP
    >>> result.index
    PosixPath('genointerp_demo/tracks/tracks.json')
    """
    started = time.perf_counter()
    run = RunDir(run_dir)
    out = Path(out) if out is not None else run.place("tracks")
    chosen = _chosen(run, features, classes, concepts, n_known, n_novel, per_family)
    genome = run.genome()
    names = ContigNames.choose(genome.lengths, run.contig_aliases(), contig_names)
    spans = parse_regions(regions, genome.aliases, genome.lengths) if regions else None
    (out / "tracks.json").unlink(missing_ok=True)  # readers never see an index of a mixed export
    files = genome_files(genome, out / "genome", names)
    tracks, colors = _concept_tracks(run, out / "concepts", names)
    options = dict(bigwig=bigwig, bedgraph=bedgraph, progress=progress, concept_colors=colors)
    exported = _feature_tracks(run, chosen, out / "features", names, spans, genome, **options)
    tracks += exported.tracks
    locus = default_locus(exported, names, spans)
    session = igv_session(out / "igv_session.xml", files, tracks, locus)
    genome_id, title = _genome_identity(run)
    hub = track_hub(
        out / "hub", files, tracks, genome_id=genome_id, organism=title, default_pos=locus
    )
    table = _feature_table(chosen, exported)
    top = run.place("catalog") / "top_sites.tsv"
    index = write_tracks_json(
        out,
        _genome_entry(files, names, genome_id, title, out),
        locus,
        tracks,
        _feature_entries(table, exported, top, names, spans),
    )
    seconds = time.perf_counter() - started
    result = ExportResult(out, index, files, tracks, table, session, hub, names, seconds)
    log.info("exported %s", result)
    return result


def concept_tracks(
    tracks, folder: str | Path, names: ContigNames | None = None, *, bigbed: bool = True
) -> list[Track]:
    """Write every concept as BED (+ bigBed) into ``folder``; the :class:`Track` list.

    Concepts named in :data:`ANNOTATION_LANES` get the group ``annotation``, the others
    ``concept``.  Concepts without elements are left out.

    Examples
    --------
    >>> tracks = gi.concepts.ConceptTracks.read("run/concepts.h5")           # doctest: +SKIP
    >>> gi.export.concept_tracks(tracks, "run/tracks/concepts")[0].path      # doctest: +SKIP
    PosixPath('run/tracks/concepts/cds.bed')
    """
    names = names or ContigNames.choose(tracks.lengths)
    out = []
    present = [c for c in tracks.concepts if len(tracks.parts(c))]
    for path in concept_beds(tracks, folder, present, contig_names=names.names):
        spec = tracks.spec(path.stem)
        group = "annotation" if spec.name in ANNOTATION_LANES else "concept"
        columns = 12 if bool((tracks.parts(spec.name)["Frame"] >= 0).any()) else 9
        common = dict(group=group, concept=spec.name, color=spec.color, bed_columns=columns)
        out.append(Track(f"concept_{spec.name}", spec.label, format="bed", path=path, **common))
        bb = bed_to_bigbed(path, names.sizes) if bigbed else None
        if bb is not None:
            out.append(
                Track(f"concept_{spec.name}_bb", spec.label, format="bigbed", path=bb, **common)
            )
    return out


def default_locus(exported: FeatureExport, names: ContigNames, regions=None) -> str:
    """``contig:start-end`` (1-based) around the strongest site of the first exported
    feature, else the start of the first region or contig."""
    sizes = names.sizes
    for files in exported.features.values():
        if files.top_sites:
            site = files.top_sites[0]
            middle = (site["start"] + site["end"]) // 2
            return _window(site["contig"], middle, sizes[site["contig"]])
    if regions:
        first = regions[0]
        return _window(
            names.browser(first.contig), first.start + LOCUS_WIDTH // 2, names.lengths[first.contig]
        )
    contig, length = next(iter(sizes.items()))
    return _window(contig, LOCUS_WIDTH // 2, length)


def _window(contig: str, middle: int, length: int) -> str:
    start = max(0, min(middle - LOCUS_WIDTH // 2, length - LOCUS_WIDTH))
    return f"{contig}:{start + 1}-{min(length, start + LOCUS_WIDTH)}"


def _concept_tracks(run: RunDir, folder: Path, names: ContigNames):
    if not run.has("concepts"):
        log.warning("%s: no concepts.h5; exporting without concept tracks", run.path)
        return [], {}
    from ..concepts import ConceptTracks

    tracks = ConceptTracks.read(run.place("concepts"))
    return concept_tracks(tracks, folder, names), {s.name: s.color for s in tracks.specs}


def _chosen(run: RunDir, features, classes, concepts, n_known, n_novel, per_family) -> pd.DataFrame:
    path = run.place("catalog") / "catalog.tsv"
    chosen = select_features(
        read_catalog(path),
        features=features,
        classes=classes,
        concepts=concepts,
        n_known=n_known,
        n_novel=n_novel,
        per_family=per_family,
        source=str(path),
    )
    if chosen.empty:
        log.warning("%s: no feature matches the selection; exporting the genome only", path)
    return chosen


def _feature_tracks(run, chosen, folder, names, spans, genome, **options) -> FeatureExport:
    from ..features import FeatureActivations

    with FeatureActivations(run.file("features")) as fa:
        # sites are written by contig index: the feature file must list the genome's
        # contigs, in the genome's order and with its lengths
        if list(fa.contigs.items()) != list(genome.lengths.items()):
            strange = [c for c in fa.contigs if c not in names.names] or list(fa.contigs)[:3]
            raise GenointerpError(
                f"{fa.path}: its contigs ({', '.join(strange[:3])} ...) are not the run's "
                f"genome's ({genome.source or 'run.json'}), in the same order and lengths. "
                "Fix: export the run the features were encoded on, or correct 'genome' in "
                "run.json"
            )
        return feature_tracks(fa, chosen, folder, names=names, regions=spans, **options)


def _genome_identity(run: RunDir) -> tuple[str, str]:
    name = run.dataset_name()
    if name:
        from ..datasets import get_manifest

        return name, get_manifest(name).title
    source = Path(str(run.info.get("genome", "genome")))
    stem = re.sub(r"\.(fa|fasta|fna|gb|gbk|genbank|gff3?)(\.gz)?$", "", source.name)
    return re.sub(r"[^A-Za-z0-9_]", "_", stem) or "genome", stem


def _genome_entry(files: GenomeFiles, names: ContigNames, genome_id, title, root) -> dict:
    return {
        "id": genome_id,
        "name": title,
        "fasta": relative_path(files.fasta, root),
        "fai": relative_path(files.fai, root),
        "twobit": relative_path(files.twobit, root) if files.twobit else None,
        "chrom_sizes": relative_path(files.chrom_sizes, root),
        "chrom_alias": relative_path(files.chrom_alias, root),
        "contigs": [
            {"name": names.browser(c), "genome_name": c, "length": n}
            for c, n in names.lengths.items()
        ],
    }


def _feature_table(chosen: pd.DataFrame, exported: FeatureExport) -> pd.DataFrame:
    table = chosen.copy()
    table["threshold"] = [exported.features[int(f)].threshold for f in table["feature"]]
    table["n_sites"] = [exported.features[int(f)].n_sites for f in table["feature"]]
    return table


def _feature_entries(table, exported, top_sites: Path, names: ContigNames, spans) -> list[dict]:
    evidence = _catalog_top_sites(top_sites, names, spans)
    entries = []
    for row in table.to_dict("records"):
        feature = int(row["feature"])
        entries.append(
            {
                "feature": feature,
                "class": row.get("class"),
                "best_concept": row.get("best_concept"),
                "test_element_f1": row.get("test_element_f1"),
                "q_value": row.get("q_value"),
                "novelty": row.get("novelty"),
                "density": row.get("density"),
                "threshold": row["threshold"],
                "n_sites": row["n_sites"],
                "top_sites": evidence.get(feature) or exported.features[feature].top_sites,
            }
        )
    return entries


def _catalog_top_sites(path: Path, names: ContigNames, spans, n: int = 10) -> dict:
    """The catalog's strongest sites per feature (1-nt, browser contig names), inside the
    exported regions if any."""
    if not path.is_file():
        return {}
    sites = pd.read_csv(
        path, sep="\t", usecols=["feature", "contig", "strand", "position", "activation"]
    )
    sites = sites[sites["contig"].isin(list(names.names))]
    if spans:
        inside = np.zeros(len(sites), dtype=bool)
        for region in spans:
            position = sites["position"].to_numpy()
            inside |= (sites["contig"].to_numpy() == region.contig) & (
                (position >= region.start) & (position < region.end)
            )
        sites = sites[inside]
    sites = sites.sort_values(["feature", "activation"], ascending=[True, False], kind="stable")
    out = {}
    for feature, group in sites.groupby("feature", sort=False):
        out[int(feature)] = [
            {
                "contig": names.browser(r.contig),
                "start": int(r.position),
                "end": int(r.position) + 1,
                "strand": str(r.strand),
                "activation": float(r.activation),
            }
            for r in group.head(n).itertuples(index=False)
        ]
    return out
