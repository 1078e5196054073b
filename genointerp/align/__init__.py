"""Align SAE features with concept tracks: counts, scores, splits, null, feature sets.

>>> import genointerp as gi
>>> fa = gi.features.FeatureActivations("ecoli.features.h5")            # doctest: +SKIP
>>> tracks = gi.concepts.ConceptTracks.read("ecoli.concepts.h5")          # doctest: +SKIP
>>> counts = gi.align.count(fa, tracks)                                  # doctest: +SKIP
>>> table = gi.align.choose(counts)        # threshold on validation, scores on test
"""

from .._stats import benjamini_hochberg
from ._counts import DEFAULT_FRACTIONS, RESOLUTION, AlignmentCounts, count, threshold_table
from ._null import shift_test
from ._pipeline import Alignment, align, transfer
from ._probe import probe
from ._score import METRICS, best_per_concept, best_per_feature, choose, scores
from ._sources import ArraySource, StoreSource, neurons
from ._splits import BlockSplit, WholeSplit

__all__ = [
    "DEFAULT_FRACTIONS",
    "METRICS",
    "RESOLUTION",
    "Alignment",
    "AlignmentCounts",
    "ArraySource",
    "BlockSplit",
    "StoreSource",
    "WholeSplit",
    "align",
    "benjamini_hochberg",
    "best_per_concept",
    "best_per_feature",
    "choose",
    "count",
    "neurons",
    "probe",
    "scores",
    "shift_test",
    "threshold_table",
    "transfer",
]
