"""Whole runs from one config: ``genointerp run CONFIG.yaml``, resumable, stage by stage.

>>> import genointerp as gi
>>> config = gi.pipeline.load_config(gi.pipeline.shipped_config("demo"))
>>> [g.name for g in config.genomes]
['ecoli_k12']
>>> gi.pipeline.STAGES[:3]
('concepts', 'extract', 'sae')
"""

from __future__ import annotations

from pathlib import Path

from ._config import (
    SHARDED,
    STAGES,
    AlignConfig,
    ConceptsConfig,
    EncodeConfig,
    ExportConfig,
    ExtractConfig,
    GenomeConfig,
    PipelineConfig,
    RankConfig,
    ReportConfig,
    SAEEvalConfig,
    SAEStageConfig,
    config_from_dict,
    config_reference,
    load_config,
    parse_overrides,
)
from ._preempt import preemptible
from ._run import RunSummary, StepResult, run
from ._slurm import SlurmConfig, submit, submit_submitit, write_scripts


def shipped_config(name: str = "demo") -> Path:
    """Path of a config shipped with genointerp (``demo``: the E. coli demo)."""
    path = Path(__file__).parent / "configs" / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in path.parent.glob("*.yaml"))
        from ..errors import GenointerpError

        raise GenointerpError(f"no shipped config {name!r}. Fix: use one of {', '.join(names)}")
    return path


__all__ = [
    "SHARDED",
    "STAGES",
    "AlignConfig",
    "ConceptsConfig",
    "EncodeConfig",
    "ExportConfig",
    "ExtractConfig",
    "GenomeConfig",
    "PipelineConfig",
    "RankConfig",
    "ReportConfig",
    "RunSummary",
    "SAEEvalConfig",
    "SAEStageConfig",
    "SlurmConfig",
    "StepResult",
    "config_from_dict",
    "config_reference",
    "load_config",
    "parse_overrides",
    "preemptible",
    "run",
    "shipped_config",
    "submit",
    "submit_submitit",
    "write_scripts",
]
