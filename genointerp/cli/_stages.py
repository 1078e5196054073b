"""Pipeline stages that later versions provide: listed in ``--help``, honest when called."""

from __future__ import annotations

import argparse

from ..errors import NotBuiltYetError

# (command, verbs or None, help, what it will do)
_PLANNED = [
    ("export", None, "export feature tracks (BED/bigWig), IGV sessions and UCSC hubs", "export"),
    ("report", None, "write the HTML report", "reporting"),
]


def register(sub) -> None:
    for command, verbs, help_text, part in _PLANNED:
        parser = sub.add_parser(command, help=f"{help_text} [not built yet]")
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(handler=_not_built(command, part))
        if verbs:
            parser.description = f"{help_text}. Verbs: {', '.join(verbs)}. Not built yet."


def _not_built(command: str, part: str):
    def handler(args: argparse.Namespace) -> int:
        raise NotBuiltYetError(
            f"this stage is not built yet in genointerp {_version()}; it arrives with {part}. "
            "Stages that work now: data, concepts, lm, extract, acts, sae, features, align, "
            "rank, demo"
        )

    return handler


def _version() -> str:
    from .. import __version__

    return __version__
