"""Run the stages of a config in order, skipping those whose outputs are up to date."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from .._atomic import atomic_path
from .._rundir import write_run_info
from ..errors import ConfigError, GenointerpError
from ._config import SHARDED, STAGES, GenomeConfig, PipelineConfig
from ._stages import STAGE_BY_NAME, RunContext, Stage, clean
from ._state import PeakMemory, Records, digest, is_worker, run_lock, signature

log = logging.getLogger(__name__)


@dataclass
class StepResult:
    """What happened to one stage of one genome (``genome`` is None for the shared SAE)."""

    stage: str
    genome: str | None
    action: str  # "up to date", "run", "resume", "rerun", "shard"
    seconds: float = 0.0
    peak_bytes: int = 0


@dataclass
class RunSummary:
    """The steps of one ``run`` call, in order."""

    folder: Path
    steps: list[StepResult] = field(default_factory=list)

    def ran(self) -> list[str]:
        return [s.stage for s in self.steps if s.action != "up to date"]


def run(
    config: PipelineConfig,
    *,
    from_stage: str | None = None,
    only: str | None = None,
    dry_run: bool = False,
    shard: int | None = None,
    genome: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> RunSummary:
    """Run ``config``'s stages in order; a stage whose outputs match its fingerprint is skipped.

    Parameters
    ----------
    from_stage
        Start at this stage; earlier ones are neither checked nor run (their outputs must
        exist: a missing one stops the run, naming the stage to run first).
    only
        Run only this stage (its inputs must exist).
    dry_run
        Print what would run and why; touch nothing.
    shard
        With ``only`` = ``extract`` or ``encode``: do part ``shard`` of that stage's ``shards``.
    genome
        Only this genome's per-genome stages.
    """
    stages = _pick_stages(from_stage, only)
    genomes = _pick_genomes(config, genome)
    if shard is not None:
        _check_shard(config, only, shard)
    ctx = RunContext(config, progress=progress, echo=echo)
    root = ctx.root
    summary = RunSummary(root)
    if is_worker():  # a torchrun process of rank > 0: train only, as rank 0 does
        if stages != ["sae"]:
            raise GenointerpError("under torchrun only '--only sae' can run. Fix: add --only sae")
        # rank 0 decides from the same record before it changes it: when it skips the stage
        # (or stops on a missing input) a worker that trained would wait for it forever
        action, fingerprint = _decide(ctx, STAGE_BY_NAME["sae"], None)
        if fingerprint is not None and action != "up to date":
            STAGE_BY_NAME["sae"].run(ctx, None)
        return summary
    if {"extract", "sae"} & set(stages):  # the stages that load the model
        _check_model(ctx)
    if dry_run:
        summary.steps = _plan(ctx, stages, genomes)
        for step in summary.steps:
            echo(f"{step.stage:9s} {step.genome or '(all genomes)':20s} {step.action}")
        return summary
    shard_key = f"{only}.shard-{shard}" if shard is not None else None
    with run_lock(root, shard_key):
        if shard is None:
            _write_config(ctx)
        for stage in stages:
            for g in _targets(ctx, stage, genomes):
                step = _step(ctx, STAGE_BY_NAME[stage], g, shard)
                summary.steps.append(step)
    return summary


def _step(ctx: RunContext, stage: Stage, g: GenomeConfig | None, shard):
    name = g.name if g else None
    if shard is not None:
        with _stage_log(ctx, f"{stage.name}.shard-{shard}" + (f".{name}" if name else "")):
            stage.run(ctx, g, shard)
        return StepResult(stage.name, name, "shard")
    action, fingerprint = _decide(ctx, stage, g)
    if action == "up to date":
        ctx.echo(f"{stage.name}{f' {name}' if name else ''}: up to date")
        return StepResult(stage.name, name, action)
    if fingerprint is None:
        raise GenointerpError(
            f"stage {stage.name} needs the outputs of {action}, which are missing. Fix: run "
            f"'genointerp run CONFIG --only {action.split()[0]}' first, or run without --only"
        )
    if action == "rerun":  # other settings or changed outputs: start this stage afresh
        clean(ctx, stage, g)
    records = Records(ctx.root)
    key = _key(stage, g)
    records.put(key, {"state": "started", "fingerprint": fingerprint})
    with _stage_log(ctx, key), PeakMemory() as peak:
        started = time.perf_counter()
        stage.run(ctx, g)
        seconds = time.perf_counter() - started
    outputs = signature(stage.outputs(ctx, g), ctx.root)
    if outputs is None:
        raise GenointerpError(f"stage {stage.name} finished without all of its outputs ({key})")
    # run.json's timing first: a job killed between the two writes reruns the stage (its
    # record still says "started") instead of skipping it with run.json left without it
    _record_timing(ctx, stage.name, name, seconds, peak)
    records.put(
        key,
        {
            "state": "done",
            "fingerprint": fingerprint,
            "signature": outputs,
            "seconds": round(seconds, 2),
            "peak_bytes": peak.bytes,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    return StepResult(stage.name, name, action, seconds, peak.bytes)


def _plan(ctx: RunContext, stages: list[str], genomes) -> list[StepResult]:
    """What a run would do: a stage whose inputs will change runs after them."""
    steps, changing = [], set()
    for stage in stages:
        for g in _targets(ctx, stage, genomes):
            waits = [n for n in STAGE_BY_NAME[stage].needs if n in changing]
            if waits:
                action = f"run after {', '.join(waits)}"
            else:
                action, fingerprint = _decide(ctx, STAGE_BY_NAME[stage], g)
                action = action if fingerprint else f"needs {action}"
            if action != "up to date":
                changing.add(stage)
            steps.append(StepResult(stage, g and g.name, action))
    return steps


def _decide(ctx: RunContext, stage: Stage, g: GenomeConfig | None) -> tuple[str, str | None]:
    """``(action, fingerprint)``: ``up to date``, ``resume``, ``rerun`` or ``run``; when an
    input is missing, ``("<stage> ...", None)`` naming it."""
    records = Records(ctx.root)
    inputs = {}
    for need in stage.needs:
        for up in _targets(ctx, need, ctx.config.genomes if g is None else [g]):
            record = records.get(_key(STAGE_BY_NAME[need], up))
            if record.get("state") != "done":
                return f"{need} ({up.name if up else 'all genomes'})", None
            inputs[_key(STAGE_BY_NAME[need], up)] = record["signature"]
    fingerprint = digest(
        {
            "stage": stage.name,
            "genointerp": __version__,
            "settings": stage.settings(ctx, g),
            "inputs": inputs,
        }
    )
    record = records.get(_key(stage, g))
    if record.get("fingerprint") == fingerprint:
        if record.get("state") == "done":
            current = signature(stage.outputs(ctx, g), ctx.root)
            if current == record.get("signature"):
                return "up to date", fingerprint
            return "rerun", fingerprint  # outputs changed or removed since
        return "resume", fingerprint
    return ("rerun" if record else "run"), fingerprint


def _targets(ctx: RunContext, stage: str, genomes: Sequence[GenomeConfig]) -> list:
    """The genomes ``stage`` runs on (``[None]`` for the shared SAE): aligned genomes, and for
    extraction also the training genomes whose store the SAE reads."""
    if not STAGE_BY_NAME[stage].per_genome:
        return [None]
    if stage == "extract":
        from_store = not ctx.config.sae.stream
        return [g for g in genomes if g.align or (from_store and not g.heldout)]
    return [g for g in genomes if g.align]


def _key(stage: Stage, g: GenomeConfig | None) -> str:
    return stage.name if g is None else f"{stage.name}.{g.name}"


def _pick_stages(from_stage: str | None, only: str | None) -> list[str]:
    for value, flag in ((from_stage, "--from"), (only, "--only")):
        if value is not None and value not in STAGES:
            raise ConfigError(flag, f"unknown stage {value!r}", f"use one of {', '.join(STAGES)}")
    if only and from_stage:
        raise ConfigError("--only", "give --only or --from, not both", "drop one of them")
    if only:
        return [only]
    return list(STAGES[STAGES.index(from_stage) :] if from_stage else STAGES)


def _pick_genomes(config: PipelineConfig, genome: str | None) -> list[GenomeConfig]:
    if genome is None:
        return list(config.genomes)
    names = [g.name for g in config.genomes]
    if genome not in names:
        raise ConfigError("--genome", f"no genome {genome!r} in the run", f"use one of {names}")
    return [g for g in config.genomes if g.name == genome]


def _check_shard(config: PipelineConfig, only: str | None, shard: int) -> None:
    if only not in SHARDED:
        raise ConfigError("--shard", "--shard needs --only extract or --only encode", "add --only")
    count = getattr(config, only).shards
    if not 0 <= shard < count:
        raise ConfigError(
            "--shard", f"shard {shard} is outside 0..{count - 1}", f"set {only}.shards or the shard"
        )


def _check_model(ctx: RunContext) -> None:
    """Unknown layers fail before any work (loading the model is cheap next to the stages
    that use it; the jobs of later stages do not load it)."""
    layer = ctx.config.extract.layer
    if layer:
        from ..models import LayerError

        try:
            ctx.model().check_layers(layer)
        except LayerError as err:
            source = getattr(ctx.config, "source", "") or "config"
            raise ConfigError(source, f"extract.layer: {err}") from None


def _write_config(ctx: RunContext) -> None:
    ctx.root.mkdir(parents=True, exist_ok=True)
    with atomic_path(ctx.root / "config.yaml") as tmp:
        tmp.write_text("# resolved settings of this run (genointerp run)\n" + ctx.config.to_yaml())


def _record_timing(ctx: RunContext, stage: str, genome: str | None, seconds, peak) -> None:
    from .._rundir import RunDir

    stages = RunDir(ctx.root).info.get("stages", {})
    stages.setdefault(stage, {})[genome or "all"] = {
        "seconds": round(seconds, 2),
        "peak_memory_mb": round(peak.bytes / 2**20, 1),
        "peak_memory_is_stage_only": peak.reset,
    }
    write_run_info(ctx.root, stages=stages)


class _stage_log:
    """Copy the library's log records into ``RUN/logs/<key>.log`` while a stage runs."""

    def __init__(self, ctx: RunContext, key: str) -> None:
        self.path = ctx.root / "logs" / f"{key}.log"
        self.echo = ctx.echo
        self.ctx = ctx

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.path)
        self.handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        self.logger = logging.getLogger("genointerp")
        self.logger.addHandler(self.handler)
        self.level = self.logger.level
        if self.logger.getEffectiveLevel() > logging.INFO:
            self.logger.setLevel(logging.INFO)

        def echo(text: str) -> None:
            self.echo(text)
            self.handler.stream.write(text + "\n")
            self.handler.flush()

        self.ctx.echo = echo
        log.info("stage %s started", self.path.stem)
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            log.error("stage %s stopped: %s", self.path.stem, value or kind.__name__)
        else:
            log.info("stage %s finished", self.path.stem)
        self.ctx.echo = self.echo
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)
        self.handler.close()
