"""Rank SAE features into known and candidate novel concepts, with evidence.

>>> catalog = gi.rank.rank(alignment, fa, genome, tracks, motifs="jaspar.meme")  # doctest: +SKIP
>>> catalog.write("out/catalog")                                                 # doctest: +SKIP
>>> print(catalog.summary())                                                     # doctest: +SKIP
>>> catalog.families.head()              # one row per family, best first        # doctest: +SKIP
"""

from ._drafts import Endpoint, draft_labels, evidence_text, parse_draft
from ._evidence import add_evidence
from ._families import (
    FamilySettings,
    FamilySummary,
    assign_families,
    best_members,
    cofiring,
    family_summary,
    family_table,
    leiden_families,
    read_summary,
    sample_activity,
)
from ._geometry import Geometry, describe, family_geometry, geometry_table
from ._labels import (
    Label,
    consensus_words,
    make_labels,
    score_labels,
    simulate,
    split_regions,
    word_hits,
)
from ._match import STABLE_CORRELATION, FeatureMatch, correlations, match_features
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
from ._rank import CLASSES, Catalog, RankSettings, classify, motif_concepts, rank

__all__ = [
    "CLASSES",
    "Endpoint",
    "add_evidence",
    "draft_labels",
    "evidence_text",
    "parse_draft",
    "STABLE_CORRELATION",
    "Catalog",
    "FeatureMatch",
    "Geometry",
    "Label",
    "FamilySettings",
    "FamilySummary",
    "Motif",
    "RankSettings",
    "assign_families",
    "best_match",
    "best_members",
    "classify",
    "cofiring",
    "describe",
    "compare",
    "consensus_words",
    "correlations",
    "family_geometry",
    "family_summary",
    "family_table",
    "geometry_table",
    "information_content",
    "leiden_families",
    "make_labels",
    "match_features",
    "pwm_from_sites",
    "motif_concepts",
    "rank",
    "read_meme",
    "read_summary",
    "reverse_complement",
    "score_labels",
    "simulate",
    "split_regions",
    "sample_activity",
    "trim",
    "word_hits",
]
