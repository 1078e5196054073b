"""An IGV session (IGV desktop and igv.js) and a UCSC assembly hub over the exported files."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .._atomic import atomic_open
from .._rundir import relative_path
from ._genome import GenomeFiles
from ._index import Track

_SIGNAL = ("bigwig", "bedgraph")


def igv_session(
    path: str | Path,
    genome: GenomeFiles,
    tracks: list[Track],
    locus: str,
) -> Path:
    """Write an IGV session XML that opens the genome and ``tracks`` at ``locus``.

    Paths inside are relative to the session file, so the folder can be moved or served
    as a whole.  Annotation lanes and feature sets go to the feature panel, activation
    tracks to the data panel.  Of each file exported in two forms, the indexed one
    (bigBed, bigWig) is used.  Open it in IGV desktop with File > Open Session, or pass
    its URL to igv.js's ``loadSessionXML``/``sessionURL``.

    Examples
    --------
    >>> gi.export.igv_session("tracks/igv.xml", files, tracks, "chr:1-20000")  # doctest: +SKIP
    """
    path = Path(path)
    root = path.parent
    chosen = _preferred(tracks)
    session = ET.Element(
        "Session",
        genome=relative_path(genome.fasta, root),
        hasGeneTrack="false",
        hasSequenceTrack="true",
        locus=locus,
        version="8",
    )
    resources = ET.SubElement(session, "Resources")
    for track in chosen:
        ET.SubElement(
            resources,
            "Resource",
            name=track.name,
            path=relative_path(track.path, root),
            type=track.format,  # IGV's format names: bed, bigbed, bigwig, bedgraph
        )
    for panel, members in (
        ("FeaturePanel", [t for t in chosen if t.format not in _SIGNAL]),
        ("DataPanel", [t for t in chosen if t.format in _SIGNAL]),
    ):
        element = ET.SubElement(session, "Panel", name=panel)
        for track in members:
            ET.SubElement(element, "Track", _igv_track(track, root))
    ET.indent(session)
    with atomic_open(path, "wb") as out:
        ET.ElementTree(session).write(out, encoding="UTF-8", xml_declaration=True)
    return path


def _igv_track(track: Track, root: Path) -> dict:
    common = {
        "attributeKey": track.name,
        "id": relative_path(track.path, root),
        "name": track.name,
        "color": track.color,
        "visible": "true",
    }
    if track.format in _SIGNAL:
        return {
            **common,
            "clazz": "org.broad.igv.track.DataSourceTrack",
            "autoScale": "true",
            "height": "40",
            "renderer": "BAR_CHART",
            "windowFunction": "max",
        }
    mode = "EXPANDED" if track.group == "feature_set" else "COLLAPSED"
    return {**common, "clazz": "org.broad.igv.track.FeatureTrack", "displayMode": mode}


def _preferred(tracks: list[Track]) -> list[Track]:
    """One track per exported item, the indexed form when both exist; features' own site
    files are left to the per-class sets (which name each site's feature)."""
    binary = {
        (t.group, t.feature, t.cls, t.concept, t.strand)
        for t in tracks
        if t.format in ("bigbed", "bigwig")
    }
    out = []
    for t in tracks:
        key = (t.group, t.feature, t.cls, t.concept, t.strand)
        if t.format in ("bed", "bedgraph") and key in binary:
            continue
        if t.group == "feature" and t.format in ("bed", "bigbed"):
            continue
        out.append(t)
    return out


def track_hub(
    folder: str | Path,
    genome: GenomeFiles,
    tracks: list[Track],
    *,
    genome_id: str,
    organism: str,
    default_pos: str,
    email: str = "nobody@example.org",
) -> Path:
    """Write a UCSC assembly hub: ``hub.txt``, ``genomes.txt`` and ``<genome_id>/trackDb.txt``.

    The hub shows ``genome``'s .2bit as its own assembly (for organisms UCSC lacks) with
    the bigBed and bigWig tracks of ``tracks``: annotation lanes on top, the other concepts
    in a ``concepts`` super-track, and each feature class in its own super-track (its sites
    and each feature's sites and activations).  Paths are relative; serve the export folder
    over HTTP(S) and give UCSC the URL of ``hub/hub.txt``.

    Returns
    -------
    Path
        ``hub.txt``.

    Examples
    --------
    >>> gi.export.track_hub("tracks/hub", files, tracks, genome_id="ecoli_k12",
    ...                     organism="E. coli", default_pos="chr:1-20000")  # doctest: +SKIP
    """
    folder = Path(folder)
    genome_id = _safe(genome_id)
    db = folder / genome_id / "trackDb.txt"
    db.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(folder / "hub.txt") as out:
        out.write(
            _stanza(
                hub=f"genointerp_{genome_id}",
                shortLabel=_label(f"genointerp {genome_id}", 17),
                longLabel=_label(f"genointerp: SAE features of {organism}", 80),
                genomesFile="genomes.txt",
                email=email,
            )
        )
    genome_stanza = {
        "genome": genome_id,
        "trackDb": f"{genome_id}/trackDb.txt",
        "twoBitPath": relative_path(genome.twobit, folder),
        "chromSizes": relative_path(genome.chrom_sizes, folder),
        "organism": organism,
        "description": organism,
        "scientificName": organism,
        "defaultPos": default_pos,
        "orderKey": "1",
    }
    with atomic_open(folder / "genomes.txt") as out:
        out.write(_stanza(**genome_stanza))
    with atomic_open(db) as out:
        out.writelines(_stanza(**s) for s in _trackdb(tracks, db.parent))
    return folder / "hub.txt"


def _trackdb(tracks: list[Track], where: Path) -> list[dict]:
    binary = [t for t in tracks if t.format in ("bigbed", "bigwig")]
    stanzas = [_hub_track(t, where, None) for t in binary if t.group == "annotation"]
    concepts = [t for t in binary if t.group == "concept"]
    if concepts:
        stanzas.append(_super("concepts", "concepts", "Concept tracks from the annotations"))
        stanzas += [_hub_track(t, where, "concepts") for t in concepts]
    classes = dict.fromkeys(t.cls for t in binary if t.group in ("feature", "feature_set"))
    for cls in classes:
        parent = _safe(f"{cls}_features")
        label = cls.replace("_", " ")
        stanzas.append(_super(parent, label, f"SAE features: {label}", show=True))
        members = [t for t in binary if t.cls == cls and t.group in ("feature", "feature_set")]
        stanzas += [_hub_track(t, where, parent) for t in members]
    return stanzas


def _hub_track(track: Track, where: Path, parent: str | None) -> dict:
    stanza = {"track": _safe(track.id.removesuffix("_bb"))}
    if parent:
        stanza["parent"] = parent
    stanza.update(
        shortLabel=_label(track.name, 17),
        longLabel=_label(f"{track.name} ({track.group})", 80),
        bigDataUrl=relative_path(track.path, where),
        color=track.color,
    )
    if track.format == "bigwig":
        # one bigWig per feature and strand: hidden until picked, or the hub opens with hundreds
        stanza.update(type="bigWig", autoScale="on", visibility="hide", maxHeightPixels="64:32:8")
    else:
        columns = track.bed_columns
        shown = track.group in ("annotation", "feature_set")
        stanza.update(
            type=f"bigBed {columns}", itemRgb="on", visibility="pack" if shown else "hide"
        )
    return stanza


def _super(name: str, short: str, long: str, show: bool = False) -> dict:
    return {
        "track": name,
        "superTrack": "on show" if show else "on",
        "shortLabel": _label(short, 17),
        "longLabel": _label(long, 80),
    }


def _stanza(**settings) -> str:
    return "".join(f"{key} {value}\n" for key, value in settings.items()) + "\n"


def _safe(text: str) -> str:
    """A UCSC track / genome name: letters, digits and underscores, starting with a letter."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(text))
    return name if name[:1].isalpha() else f"t{name}"


def _label(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "~"
