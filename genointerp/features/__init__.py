"""Sparse SAE feature activations per position and strand, and per-feature statistics.

>>> import genointerp as gi
>>> fa = gi.features.encode("ecoli.h5", "runs/ecoli-topk", "ecoli.features.h5")  # doctest: +SKIP
>>> fa.stats.table().head()                                                     # doctest: +SKIP
"""

from ._encode import encode
from ._format import FEATURES_TYPE, FEATURES_VERSION, Chunk, FeatureActivations
from ._stats import SHAPES, FeatureStats, shape_class

__all__ = [
    "FEATURES_TYPE",
    "FEATURES_VERSION",
    "SHAPES",
    "Chunk",
    "FeatureActivations",
    "FeatureStats",
    "encode",
    "shape_class",
]
