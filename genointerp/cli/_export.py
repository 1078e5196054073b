"""``genointerp export``: browser files (BED, bigBed, bigWig, IGV session, UCSC hub) of a run."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..export import _options as default  # export_run's defaults, without loading pandas


def register(sub) -> None:
    parser = sub.add_parser(
        "export",
        help="export feature tracks (BED/bigBed/bigWig), an IGV session and a UCSC hub",
        description="Write RUN/tracks/ (or -o DIR): the genome, the concept tracks and the "
        "chosen features' sites and activations for genome browsers, an IGV session, a UCSC "
        "assembly hub and tracks.json.  Default selection: the best known and candidate-"
        "novel features of the run's catalog.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder")
    parser.add_argument("-o", "--output", type=Path, help="export folder (default RUN/tracks)")
    parser.add_argument("--features", type=_ints, help="feature ids, e.g. 17,240 (exactly these)")
    parser.add_argument("--classes", type=_words, help="classes, e.g. known,candidate_novel")
    parser.add_argument(
        "--concepts", type=_words, help="only features whose best concept is one of these"
    )
    parser.add_argument(
        "--regions",
        type=_regions,
        help="regions contig:start-end (1-based, inclusive; thousands commas allowed), "
        "separated by commas or spaces",
    )
    for flag, value, what in (
        ("--n-known", default.N_KNOWN, "known"),
        ("--n-novel", default.N_NOVEL, "candidate-novel"),
    ):
        parser.add_argument(
            flag,
            type=_count,
            default=value,
            help=f"how many {what} features, best first, or 'all' (default {value})",
        )
    parser.add_argument(
        "--contig-names",
        default=default.CONTIG_NAMES,
        metavar="|".join(default.NAMING_STYLES) + "|TSV",
        help="contig names in the files: the genome's, UCSC chr-style, INSDC accessions, or an "
        f"alias table (browser name<TAB>contig) (default {default.CONTIG_NAMES})",
    )
    parser.add_argument(
        "--bedgraph", action="store_true", default=default.BEDGRAPH, help="also write bedGraph"
    )
    parser.add_argument(
        "--no-bigwig",
        dest="bigwig",
        action="store_false",
        default=default.BIGWIG,
        help="skip the activation bigWigs",
    )
    parser.set_defaults(handler=_export)


def _words(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _regions(text: str) -> list[str]:
    """Split on commas or spaces, but not on the commas inside a number (1,001-2,000)."""
    return [t.strip() for t in re.split(r"(?<!\d),|,(?!\d{3}\b)|\s+", text) if t.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _words(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of ids") from None


def _count(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'all'") from None


def _export(args: argparse.Namespace) -> int:
    from ..export import export_run

    result = export_run(
        args.run_dir,
        args.output,
        features=args.features,
        classes=args.classes,
        concepts=args.concepts,
        regions=args.regions,
        n_known=args.n_known,
        n_novel=args.n_novel,
        contig_names=args.contig_names,
        bigwig=args.bigwig,
        bedgraph=args.bedgraph,
        progress=not args.quiet,
    )
    counts = result.features["class"].value_counts() if len(result.features) else {}
    print(
        f"exported {len(result.features)} features ("
        + ", ".join(f"{k} {v}" for k, v in dict(counts).items())
        + f"), {len(result.tracks)} track files, {result.n_bytes / 1e6:.1f} MB "
        f"in {result.seconds:.1f} s -> {result.folder}"
    )
    print(f"IGV session: {result.igv_session}")
    print(f"UCSC hub:    {result.hub}  (serve the folder over HTTP; give UCSC the hub.txt URL)")
    print(f"index:       {result.index}")
    return 0
