"""Activations of a model over a genome: windows, extraction, and the HDF5 activation store.

>>> import genointerp as gi
>>> path = gi.acts.extract("ecoli_k12", "tiny", ["blocks.7"], "ecoli.h5")  # doctest: +SKIP
>>> store = gi.acts.ActivationStore(path)                                           # doctest: +SKIP
"""

from ._extract import extract, parse_shard, shard_path
from ._merge import merge
from ._store import JOINT_SUFFIX, STORE_TYPE, STORE_VERSION, ActivationStore, JointView
from ._windows import WINDOW_DTYPE, WindowSpec, contig_windows, plan_windows

__all__ = [
    "JOINT_SUFFIX",
    "STORE_TYPE",
    "STORE_VERSION",
    "WINDOW_DTYPE",
    "ActivationStore",
    "JointView",
    "WindowSpec",
    "contig_windows",
    "extract",
    "merge",
    "parse_shard",
    "plan_windows",
    "shard_path",
]
