"""The fault suite: ``genointerp run`` killed with SIGKILL at random points, then run again.

For every stage (``genointerp run CONFIG --only STAGE``, after the earlier stages are done)
and for a whole ``genointerp run CONFIG``, the process is killed at least ``KILLS`` times at
seeded random points, each drawn uniformly over the time that stage took in an uninterrupted
run and counted from the moment the stage's log says it started (so every kill lands inside
the stage, not in the interpreter's start-up); the SAE stage is also killed just after its
first checkpoint appears, so that its rerun resumes training.  After each kill every file at
a final path must be the finished file (no truncated ``.h5`` under its final name); only
``.tmp-*`` and ``*.partial`` files, and the SAE's resume files (checkpoint, training log), may
be unfinished.  The run is then started again until it finishes, and its outputs must equal
the uninterrupted run's: HDF5 datasets and attributes, safetensors and torch tensors bit for
bit, text, PNG, HTML, bigWig and bigBed byte for byte (only gzip headers, the training log's
wall-time column and ``run.json``'s timings may differ), with no ``.tmp-*`` or ``*.partial``
file left.  Random kills rarely hit the few milliseconds a small file takes to write, so the
uninterrupted run is also audited: every file it opened for writing must have been a
temporary one (see ``tests/fault_tools.in_place_writes``).

SAE training resumed from a checkpoint gives bit-identical weights on CPU (same batches in the
same order, same optimiser state), so the SAE is compared exactly like everything else.

Every command is the CLI's ``main`` in a child forked from one pre-imported Python
(``tests.fault_tools.Forkserver``): a separate process, killed like any other, that starts in
milliseconds instead of the seconds torch and scanpy take to import.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from genointerp.pipeline import STAGES
from genointerp.pipeline._state import run_lock
from tests.fault_tools import (
    Forkserver,
    check_killed,
    compare_runs,
    copy_folder,
    in_place_writes,
    output_tail,
    run_and_kill,
    stage_key,
)
from tests.pipeline_fixture import write_config

KILLS = 5
ENCODE_LEDGER = ("stats_0", "stats_1", "stats_current")
SHARDED = {"extract": "activations", "encode": "features"}  # stage -> output stem
SEED = 2024
RUN = ["run", "run.yaml"]


@dataclass
class Baseline:
    """An uninterrupted run, stage by stage, with a copy of its folder before each stage."""

    folder: Path  # the config's folder; the run is folder/"run"
    before: dict[str, Path]  # stage -> copy of the folder just before the stage ran
    seconds: dict[str, float]  # stage -> seconds from its "started" line to the process's end

    @property
    def root(self) -> Path:
        return self.folder / "run"

    def after(self, stage: str) -> Path:
        """The run folder as the uninterrupted run left it after ``stage``."""
        later = STAGES[STAGES.index(stage) + 1 :]
        return self.before[later[0]] / "run" if later else self.root


@pytest.fixture(scope="module")
def server():
    # One thread per process keeps the suite inside its CI time on two cores (with torch's
    # default threads it passes too, 50% slower).
    forkserver = Forkserver(dict(os.environ, OMP_NUM_THREADS="1"))
    yield forkserver
    forkserver.close()


@pytest.fixture(scope="module")
def baseline(server, tmp_path_factory) -> Baseline:
    top = tmp_path_factory.mktemp("faults")
    folder = top / "baseline"
    write_config(folder)
    before, seconds = {}, {}
    for stage in STAGES:
        before[stage] = copy_folder(folder, top / f"before-{stage}")
        code, seconds[stage] = run_and_kill(
            server, folder, _only(stage), stage_key(stage), None, audit=top / "writes.jsonl"
        )
        assert code == 0, output_tail(folder)
    return Baseline(folder, before, seconds)


def _only(stage: str) -> list[str]:
    return [*RUN, "--only", stage]


def _attempt(server, expected, folder, argv, stage, delay, kills, ready=None) -> bool:
    """One start, killed ``delay`` s into ``stage``: checks what the kill left (the kill is
    added to ``kills``); True when the command finished first (its outputs are checked)."""
    code, _ = run_and_kill(server, folder, argv, stage_key(stage), delay, ready=ready)
    if code == -signal.SIGKILL:
        problems = check_killed(expected, folder / "run")
        assert not problems, f"killed {delay:.2f} s into {stage}: {problems}"
        kills.append((stage, round(delay, 2)))
        return False
    assert code == 0, output_tail(folder)
    _assert_same(expected, folder)
    return True


def _finish(server, expected: Path, folder: Path, argv: list[str], stage: str) -> None:
    """Run to the end; the outputs must be the uninterrupted run's."""
    code, _ = run_and_kill(server, folder, argv, stage_key(stage), None)
    assert code == 0, output_tail(folder)
    _assert_same(expected, folder)


def _assert_same(expected: Path, folder: Path) -> None:
    problems = compare_runs(expected, folder / "run")
    assert not problems, problems


def _done(folder: Path, stage: str) -> bool:
    record = folder / "run" / ".pipeline" / f"{stage_key(stage)}.json"
    return record.is_file() and json.loads(record.read_text()).get("state") == "done"


def test_outputs_are_written_through_temporary_files(baseline):
    """Every file the uninterrupted run opened for writing in the run folder was a temporary
    file (or a resumable partial store, a log): a kill at any moment, not only at the
    moments the random kills below happen to hit, leaves no half-written output."""
    writes = baseline.folder.parent / "writes.jsonl"
    assert in_place_writes(writes, baseline.root) == []
    written = writes.read_text()
    assert "h5py.File w" in written and "torch.save" in written and "pybigtools" in written


def test_taking_the_lock_removes_what_killed_runs_left(tmp_path):
    """A killed process leaves its ``.tmp-*`` files (no ``finally`` runs); the next run that
    holds the folder alone removes them, a shard task (which shares it) does not."""
    run = tmp_path / "run"
    stale = [run / ".tmp-concepts.h5.x1", run / "catalog" / ".tmp-catalog.tsv.x2"]
    folder = run / "tracks" / "features" / ".tmp-scratch-x3"
    for path in [*stale, folder / "0+.sites"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    kept = run / "activations.h5.partial"
    kept.write_text("resumable")
    with run_lock(run, "extract.shard-0"):
        assert all(p.exists() for p in stale) and folder.exists()
    with run_lock(run):
        assert not any(p.exists() for p in stale) and not folder.exists()
    assert kept.exists()


@pytest.mark.parametrize("stage", STAGES)
def test_stage_survives_sigkill(stage, server, baseline, tmp_path):
    """``--only STAGE`` killed KILLS times mid-stage, then run to the end."""
    rng = np.random.default_rng([SEED, STAGES.index(stage)])
    folder = copy_folder(baseline.before[stage], tmp_path / "run")
    argv, expected = _only(stage), baseline.after(stage)
    kills: list[tuple[str, float]] = []
    if stage == "sae":  # once just after the first checkpoint: the rerun must resume from it
        checkpoint = folder / "run" / "sae" / "checkpoint.pt"
        finished = _attempt(server, expected, folder, argv, stage, 0.0, kills, checkpoint.exists)
        assert not finished
    logs = []  # the stage's log before each fresh start
    while len(kills) < KILLS:
        delay = float(rng.uniform(0, baseline.seconds[stage]))
        if _attempt(server, expected, folder, argv, stage, delay, kills):
            # it resumed and finished before the kill: start again from before the stage
            logs.append(_log(folder, stage))
            copy_folder(baseline.before[stage], folder)
    _finish(server, expected, folder, argv, stage)
    print(f"{stage}: killed at {kills} s after the stage started")
    if stage == "sae":  # training went on from a checkpoint at least once
        assert "resumed" in "".join([*logs, _log(folder, stage)])


def _log(folder: Path, stage: str) -> str:
    path = folder / "run" / "logs" / f"{stage_key(stage)}.log"
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("stage", SHARDED)
def test_sharded_stage_survives_sigkill(stage, server, baseline, tmp_path):
    """With ``shards: 2``: a shard task (``--shard 0``, as a SLURM array task runs it) and
    then ``--only STAGE`` (the missing shard, then the merge), killed mid-stage; the rerun
    ends as an uninterrupted sharded run does (its data the unsharded run's), no shard left."""
    rng = np.random.default_rng([SEED, len(STAGES) + list(SHARDED).index(stage)])
    folder = copy_folder(baseline.before[stage], tmp_path / "run")
    config = yaml.safe_load((folder / "run.yaml").read_text())
    config.setdefault(stage, {})["shards"] = 2  # not in the fingerprint: records stay valid
    (folder / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    argv = _only(stage)
    uninterrupted = copy_folder(folder, tmp_path / "uninterrupted")
    code, seconds = run_and_kill(server, uninterrupted, argv, stage_key(stage), None)
    assert code == 0, output_tail(uninterrupted)
    expected = uninterrupted / "run"
    shutil.copy2(expected / "config.yaml", folder / "run")  # a shard task does not write it
    # Two shards merged hold the one-piece output's data.  Not its encode ledger: the
    # statistics of the last two commits, and which one is current, that a finished
    # features.h5 keeps though only a partial one resumes from them.
    different = compare_runs(baseline.after(stage), expected, ignore=ENCODE_LEDGER)
    assert [p for p in different if not p.startswith("config.yaml:")] == []  # "shards: 2"
    kills: list[tuple[str, float]] = []
    task, key = [*argv, "--shard", "0"], f"{stage}.shard-0.g0"
    shard = folder / "run" / f"{SHARDED[stage]}.shard-0-of-2.h5"
    while not kills:
        delay = float(rng.uniform(0, seconds / 2))
        code, _ = run_and_kill(server, folder, task, key, delay)
        if code == -signal.SIGKILL:
            problems = check_killed(expected, folder / "run")
            assert not problems, f"killed {delay:.2f} s into shard 0 of {stage}: {problems}"
            kills.append((f"{stage} shard 0", round(delay, 2)))
        else:  # finished first: once more
            assert code == 0, output_tail(folder)
            shard.unlink()
    code, _ = run_and_kill(server, folder, task, key, None)
    assert code == 0 and shard.is_file(), output_tail(folder)
    after_task = copy_folder(folder, tmp_path / "after-task")
    while len(kills) < KILLS:
        delay = float(rng.uniform(0, seconds))
        if _attempt(server, expected, folder, argv, stage, delay, kills):
            copy_folder(after_task, folder)  # finished first: back to before the merge
    _finish(server, expected, folder, argv, stage)
    print(f"{stage} (2 shards): killed at {kills}")


def test_run_survives_sigkill(server, baseline, tmp_path):
    """A whole ``genointerp run`` killed at KILLS points drawn uniformly over the
    uninterrupted run's timeline (stage after stage), started again after each kill."""
    rng = np.random.default_rng([SEED, len(STAGES)])
    starts = np.cumsum([0.0] + [baseline.seconds[s] for s in STAGES])
    points = list(np.sort(rng.uniform(0, starts[-1], KILLS)))
    folder = copy_folder(baseline.before[STAGES[0]], tmp_path / "run")
    kills: list[tuple[str, float]] = []
    while len(kills) < KILLS:
        point = points.pop(0) if points else float(rng.uniform(0, starts[-1]))
        index = int(np.searchsorted(starts, point, side="right")) - 1
        stage = STAGES[index]
        if _done(folder, stage):  # the last kill overran into a later stage: draw again
            first = next(i for i, s in enumerate(STAGES) if not _done(folder, s))
            point = float(rng.uniform(starts[first], starts[-1]))
            index = int(np.searchsorted(starts, point, side="right")) - 1
            stage = STAGES[index]
        delay = float(point - starts[index])
        if _attempt(server, baseline.root, folder, RUN, stage, delay, kills):
            copy_folder(baseline.before[STAGES[0]], folder)
    _finish(server, baseline.root, folder, RUN, STAGES[-1])
    print(f"run: killed at {kills} (stage, s after it started)")
