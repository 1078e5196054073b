"""``genointerp report``: the HTML report of a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..report._options import N_FEATURES


def register(sub) -> None:
    parser = sub.add_parser(
        "report",
        help="write the HTML report of a run (opens from file://, no server or network)",
        description="Write RUN_DIR/report/index.html: the run's model, layer, data and SAE "
        "metrics, the concept table, the known and candidate-novel features with logos and "
        "evidence, the plots, and links into the genome viewer.",
    )
    parser.add_argument("run", type=Path, metavar="RUN_DIR", help="the run folder")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="report folder (default: RUN_DIR/report)"
    )
    parser.add_argument(
        "--n-features",
        type=int,
        default=N_FEATURES,
        help="known and candidate-novel features listed with evidence, each "
        f"(default {N_FEATURES})",
    )
    parser.add_argument("--no-figures", action="store_true", help="leave the plots out")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    index = write_report(
        args.run, args.output, n_features=args.n_features, figures=not args.no_figures
    )
    print(f"report -> {index}")
    return 0
