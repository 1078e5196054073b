"""Sparse SAE feature activations per position and strand, and per-feature statistics.

>>> import genointerp as gi
>>> fa = gi.features.encode("ecoli.h5", "runs/ecoli-topk", "ecoli.features.h5")  # doctest: +SKIP
>>> fa.stats.table().head()                                                     # doctest: +SKIP

In shards (e.g. SLURM array tasks), then merged into the same file::

    gi.features.encode(store, sae_dir, "f.h5", shard=(i, n))  # writes f.shard-i-of-n.h5
    gi.features.merge([gi.acts.shard_path(Path("f.h5"), (i, n)) for i in range(n)], "f.h5")
"""

from ._encode import encode
from ._format import FEATURES_TYPE, FEATURES_VERSION, Chunk, FeatureActivations
from ._merge import merge
from ._stats import SHAPES, FeatureStats, shape_class

__all__ = [
    "FEATURES_TYPE",
    "FEATURES_VERSION",
    "SHAPES",
    "Chunk",
    "FeatureActivations",
    "FeatureStats",
    "encode",
    "merge",
    "shape_class",
]
