"""``genointerp concepts``: build concept tracks and export them as BED."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    concepts = sub.add_parser("concepts", help="build concept tracks from annotations; export BED")
    verbs = concepts.add_subparsers(dest="verb", metavar="VERB", required=True)

    build = verbs.add_parser("build", help="derive concept tracks for a genome (HDF5)")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="data set name (its genome, annotations and catalog)")
    source.add_argument("--genome", type=Path, help="genome file (FASTA, GenBank, GFF3+FASTA)")
    build.add_argument(
        "--annotations",
        type=Path,
        nargs="+",
        default=None,
        help="annotation files (GFF3, GenBank, BED); with --genome",
    )
    build.add_argument(
        "--annotate",
        nargs="?",
        const="all",
        metavar="TOOLS",
        help="also run sequence annotators and add their rows: all of them, or a comma-separated "
        "list of prodigal, aragorn, barrnap, transtermhp, pilercr (outputs cached beside the "
        "genome); enough on its own for a genome with no annotation file",
    )
    build.add_argument(
        "--no-curated",
        action="store_true",
        help="with --dataset: leave out the data set's annotation files (annotators alone)",
    )
    build.add_argument(
        "--translation-table",
        default="auto",
        help="genetic code for prodigal (e.g. 11, or 4 for Mycoplasma); default: auto",
    )
    build.add_argument("--kingdom", choices=["bac", "arc"], help="barrnap's models (default: bac)")
    build.add_argument("--aliases", type=Path, help="contig alias table: alias<TAB>contig")
    build.add_argument("--catalog", help="catalog name or YAML path (default: the data set's)")
    build.add_argument("--concepts", help="comma-separated subset of concepts")
    build.add_argument("-o", "--output", type=Path, required=True, help="output .h5 file")
    build.set_defaults(handler=_build)

    bed = verbs.add_parser("bed", help="export concept tracks as BED files, one per concept")
    bed.add_argument("tracks", type=Path, help="tracks file from `concepts build`")
    bed.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    bed.add_argument("--concepts", help="comma-separated subset of concepts")
    bed.add_argument(
        "--track-line", action="store_true", help="start each file with a UCSC track line"
    )
    bed.set_defaults(handler=_bed)

    listing = verbs.add_parser("list", help="list catalogs, or the concepts of one catalog")
    listing.add_argument("catalog", nargs="?", help="catalog name or YAML path")
    listing.set_defaults(handler=_list)

    summary = verbs.add_parser("summary", help="print elements and coverage per concept")
    summary.add_argument("tracks", type=Path, help="tracks file from `concepts build`")
    summary.set_defaults(handler=_summary)


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _annotate(text: str | None) -> bool | list[str]:
    if text is None:
        return False
    return True if text == "all" else _split(text) or False


def _build(args: argparse.Namespace) -> int:
    from ..concepts import build
    from ..io import Genome, read_alias_table

    annotate = _annotate(args.annotate)
    if args.dataset:
        genome, annotations = args.dataset, ([] if args.no_curated else None)
    else:
        if not args.annotations and not annotate:
            raise SystemExit(
                "genointerp concepts build: --genome needs --annotations, --annotate or both"
            )
        if not args.catalog:
            raise SystemExit("genointerp concepts build: --genome needs --catalog")
        aliases = read_alias_table(args.aliases) if args.aliases else None
        genome = Genome.open(args.genome, aliases=aliases)
        annotations = args.annotations or []
    table = args.translation_table
    if table != "auto" and not table.isdigit():
        raise SystemExit(
            f"genointerp concepts build: --translation-table {table!r}: give 'auto' or a number"
        )
    tracks = build(
        genome,
        args.catalog,
        annotations,
        concepts=_split(args.concepts),
        annotate=annotate,
        translation_table=table if table == "auto" else int(table),
        kingdom=args.kingdom,
        progress=True,
    )
    tracks.write(args.output)
    print(
        tracks.summary()[["concept", "stranded", "elements", "bp_plus", "bp_minus"]].to_string(
            index=False
        )
    )
    print(f"wrote {args.output}")
    return 0


def _bed(args: argparse.Namespace) -> int:
    from ..concepts import ConceptTracks
    from ..export import concept_beds

    tracks = ConceptTracks.read(args.tracks)
    for path in concept_beds(tracks, args.output, _split(args.concepts), header=args.track_line):
        print(path)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..concepts import list_catalogs, load_catalog

    if not args.catalog:
        for name, path in list_catalogs().items():
            print(f"{name:16s} {len(load_catalog(path).concepts):3d} concepts  {path}")
        return 0
    for spec in load_catalog(args.catalog).concepts:
        strand = "stranded" if spec.stranded else "unstranded"
        print(f"{spec.name:18s} {strand:10s} {spec.label}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from ..concepts import ConceptTracks

    print(ConceptTracks.read(args.tracks).summary().to_string(index=False))
    return 0
