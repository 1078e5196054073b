"""Rank SAE features into known and candidate novel concepts, with evidence.

>>> catalog = gi.rank.rank(alignment, fa, genome, tracks, motifs="jaspar.meme")  # doctest: +SKIP
>>> catalog.write("out/catalog")                                                 # doctest: +SKIP
"""

from ._motifs import (
    Motif,
    best_match,
    compare,
    information_content,
    pwm_from_sites,
    read_meme,
    reverse_complement,
    trim,
)
from ._rank import CLASSES, Catalog, RankSettings, classify, rank

__all__ = [
    "CLASSES",
    "Catalog",
    "Motif",
    "RankSettings",
    "best_match",
    "classify",
    "compare",
    "information_content",
    "pwm_from_sites",
    "rank",
    "read_meme",
    "reverse_complement",
    "trim",
]
