"""The ``genointerp`` command line: one subcommand per pipeline stage.

Each subcommand calls the same function a notebook would; errors print one line
(the file, the line or record, and the fix) and exit non-zero; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import GenointerpError
from . import (
    _align,
    _concepts,
    _data,
    _export,
    _intervene,
    _models,
    _report,
    _run,
    _sae,
    _slurm,
    _view,
)

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genointerp",
        description="Interpret DNA foundation models: run a model over a genome, train sparse "
        "autoencoders on its activations, and align their features with annotations.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print warnings/errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _data.register(sub)
    _concepts.register(sub)
    _models.register(sub)
    _sae.register(sub)
    _align.register(sub)
    _intervene.register(sub)
    _export.register(sub)
    _report.register(sub)
    _view.register(sub)
    _run.register(sub)
    _slurm.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genointerp`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # stage logs lower genointerp's logger level
        handler.setLevel(level)  # to INFO for their files; the console keeps this level
    try:
        return int(args.handler(args) or 0)
    except (GenointerpError, OSError) as exc:
        if args.debug:
            raise
        print(f"genointerp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            "genointerp: interrupted; completed outputs are kept, partial ones removed",
            file=sys.stderr,
        )
        return 130
