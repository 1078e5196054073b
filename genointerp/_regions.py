"""Region strings as genome browsers show them: ``contig:start-end``, 1-based and inclusive.

One parser for every function that takes a region as text (``gi.pl.tracks``,
``gi.export.export_run``, ``genointerp export --regions``); tuples stay 0-based half-open
like every other coordinate in genointerp.
"""

from __future__ import annotations

import re

from .errors import GenointerpError

_REGION = re.compile(r"^(?P<contig>[^\s:]+?)(?::(?P<start>[\d,_]+)-(?P<end>[\d,_]+))?$")


def parse_region_text(text: str) -> tuple[str, int, int | None]:
    """``(contig, start, end)`` 0-based half-open from ``"contig:start-end"`` (1-based,
    inclusive; commas and underscores allowed) or ``"contig"`` (``end`` None: to its end).

    Examples
    --------
    >>> parse_region_text("chr1:1,001-2,000")
    ('chr1', 1000, 2000)
    >>> parse_region_text("chr1")
    ('chr1', 0, None)
    """
    match = _REGION.match(text.strip())
    if match is None:
        raise GenointerpError(
            f"region {text!r} is not contig:start-end. Fix: write e.g. chr1:1001-2000 "
            "(1-based, inclusive, as genome browsers show it) or a contig name alone"
        )
    if match["start"] is None:
        return match["contig"], 0, None
    start, end = (int(re.sub("[,_]", "", match[k])) for k in ("start", "end"))
    if start < 1 or end < start:
        raise GenointerpError(
            f"region {text!r} is empty or starts before 1. Fix: give contig:start-end with "
            "1 <= start <= end (1-based, inclusive)"
        )
    return match["contig"], start - 1, end


def true_runs(mask) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in a 1-D boolean array."""
    import numpy as np

    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
