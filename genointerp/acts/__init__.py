"""Activations of a model over a genome: windows, extraction, and the HDF5 activation store.

>>> import genointerp as gi
>>> path = gi.acts.extract("ecoli_k12", "tiny", ["blocks.7"], "ecoli.h5")  # doctest: +SKIP
>>> store = gi.acts.ActivationStore(path)                                           # doctest: +SKIP
"""

from ._extract import (
    extract,
    forward_windows,
    parse_shard,
    plan_genome,
    resolve_genome,
    shard_path,
    window_spec,
)
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
    "forward_windows",
    "merge",
    "parse_shard",
    "plan_genome",
    "plan_windows",
    "resolve_genome",
    "shard_path",
    "window_spec",
]
