"""SLURM jobs of a run, on a real one-node cluster (tests/slurm_cluster.py), and preemption."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from genointerp.errors import PREEMPTED_EXIT, Preempted
from genointerp.pipeline._preempt import preemptible
from genointerp.pipeline._slurm import SlurmConfig, SlurmJob, job_script

# A job that counts to STEPS, saving its count on Preempted and resuming from it.
COUNTER = """\
import sys, time
from pathlib import Path
from genointerp.errors import PREEMPTED_EXIT, Preempted
from genointerp.pipeline._preempt import preemptible

state = Path(sys.argv[1])
steps = int(sys.argv[2])
done = int(state.read_text()) if state.exists() else 0
print("start", done, flush=True)
try:
    with preemptible():
        while done < steps:
            time.sleep(0.05)
            done += 1
            if done % 5 == 0:
                state.write_text(str(done))
except Preempted as stop:
    state.write_text(str(done))
    print("preempted", stop.signal_name, done, flush=True)
    sys.exit(PREEMPTED_EXIT)
state.write_text(str(done))
print("finished", done, flush=True)
"""


def test_preemptible_raises_once_and_restores_handlers():
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(Preempted) as stop, preemptible() as state:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**7):  # the handler runs between bytecodes of this loop
            pass
    assert stop.value.signal_name == "SIGTERM"
    assert state.signals == ["SIGTERM"]
    assert signal.getsignal(signal.SIGUSR1) is before


def test_preemptible_does_not_interrupt_the_save():
    saved = []
    with pytest.raises(Preempted), preemptible() as state:
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(1)
        except Preempted:
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal while saving
            time.sleep(0.01)
            saved.append(True)
            raise
    assert saved == [True]
    assert state.signals == ["SIGUSR1", "SIGTERM"]


def _counter_job(tmp_path: Path, steps: int) -> tuple[str, Path, Path]:
    """The counter as a batch script with the preemption wrapper; (script, state, log dir)."""
    program = tmp_path / "counter.py"
    program.write_text(COUNTER)
    state = tmp_path / "count"
    argv = (sys.executable, str(program), str(state), str(steps))
    job = SlurmJob("counter", argv)
    logs = tmp_path / "logs"
    logs.mkdir()
    script = job_script(job, SlurmConfig(mem="", time="10", cpus_per_task=1), logs)
    return script, state, logs


def _wait_until(ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def _started(state: Path) -> bool:
    return state.exists() and int(state.read_text() or 0) >= 5


@pytest.mark.parametrize("how", ["warning", "requeue"])
def test_preempted_job_requeues_and_resumes(slurm_cluster, tmp_path, how):
    """SLURM's warning signal (USR1 to the batch shell) or an admin's requeue (SIGTERM to every
    process) midway: the counter saves, the job requeues itself and the rerun resumes."""
    steps = 60
    script, state, logs = _counter_job(tmp_path, steps)
    job_id = slurm_cluster.sbatch(script, cwd=tmp_path)
    _wait_until(lambda: _started(state), 60, "the job to start counting")
    if how == "warning":
        slurm_cluster.scancel(job_id, "--signal=USR1", "--batch")
    else:
        slurm_cluster.requeue(job_id)
    (job,) = slurm_cluster.wait_for(job_id, timeout=90)
    log = (logs / f"counter-{job_id}.out").read_text()
    assert job["JobState"] == "COMPLETED", log
    assert job["Restarts"] == "1", log
    signal_name = "SIGUSR1" if how == "warning" else "SIGTERM"
    assert f"preempted {signal_name}" in log
    starts = [int(line.split()[1]) for line in log.splitlines() if line.startswith("start ")]
    assert starts[0] == 0 and 5 <= starts[1] < steps, log  # the rerun resumed, not restarted
    assert f"finished {steps}" in log
    assert int(state.read_text()) == steps
    assert f"exit status {PREEMPTED_EXIT}" in log  # saved and asked for the requeue


def _small_config(folder: Path, **sections):
    """The pipeline tests' small run (tests/pipeline_fixture.py) with two extraction shards, an
    SAE long enough to be stopped midway, and no report pages (their plots take 30 s)."""
    from tests.pipeline_fixture import SMALL, write_config

    train = {**SMALL["sae"]["train"], "tokens": 262_144}  # 256 steps: seconds, not a blink
    path = write_config(
        folder,
        extract={**SMALL["extract"], "shards": 2},
        sae={**SMALL["sae"], "train": train},
        report={"viewer": False, "report": False},
        slurm={"mem": "", "cpus_per_task": 1, "time": "10", "signal_seconds": 30},
        **sections,
    )
    return path, gi_pipeline().load_config(path)


def gi_pipeline():
    import genointerp as gi

    return gi.pipeline


def test_write_scripts_chains_every_stage(tmp_path):
    from genointerp.pipeline._slurm import write_scripts

    path, config = _small_config(tmp_path, output="run")
    config.encode.shards = 2
    config.slurm.gpus = 4
    config.slurm.gpu_partition = "gpu"
    scripts = write_scripts(config, path)
    names = [p.name for p in scripts]
    assert names == [
        "00-concepts.sbatch",
        "01-extract-shards.sbatch",
        "02-extract.sbatch",
        "03-sae.sbatch",
        "04-encode-shards.sbatch",
        "05-encode.sbatch",
        "06-align.sbatch",
        "07-rank.sbatch",
        "08-export.sbatch",
        "09-report.sbatch",
        "submit.sh",
    ]
    assert all(p.parent == Path(config.output) / "slurm" for p in scripts)
    shards = scripts[1].read_text()
    assert "#SBATCH --array=0-1\n" in shards
    assert '--only extract --shard "$SLURM_ARRAY_TASK_ID" &' in shards
    sae = scripts[3].read_text()
    assert "-m torch.distributed.run --standalone --nproc-per-node=4 -m genointerp run" in sae
    assert "#SBATCH --gres=gpu:4\n#SBATCH" in sae or "#SBATCH --gres=gpu:4" in sae
    assert "#SBATCH --partition=gpu" in sae and "kill -TERM" in sae
    for script in scripts[:-1]:
        text = script.read_text()
        for option in ("--requeue", "--signal=B:USR1@30", "--open-mode=append"):
            assert f"#SBATCH {option}\n" in text
        assert f"--output={Path(config.output) / 'slurm' / 'logs'}/" in text
        assert "scontrol requeue" in text
    submit = scripts[-1].read_text().splitlines()
    chained = [line for line in submit if "sbatch --parsable" in line]
    assert len(chained) == 10 and "--dependency" not in chained[0]
    assert "--dependency=afterok:${job_concepts} 01-extract-shards.sbatch" in chained[1]
    assert "--dependency=afterok:${job_extract_shards} 02-extract.sbatch" in chained[2]


def _h5_content(path: Path, root: Path) -> dict:
    """Every group's attributes and every dataset's values, with the run folder's path masked
    (stores and feature files record where their inputs were)."""
    import h5py
    import numpy as np

    out = {}

    def masked(value):
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str):
            return value.replace(str(root), "RUN")
        value = np.asarray(value)
        return (
            [masked(v) for v in value.ravel().tolist()]
            if value.dtype.kind == "O"
            else value.tolist()
        )

    def visit(name, obj):
        attrs = {key: masked(value) for key, value in obj.attrs.items()}
        data = obj[()] if isinstance(obj, h5py.Dataset) else None
        if isinstance(data, np.ndarray) and data.dtype.kind in "biufc":
            data = (data.dtype.str, data.shape, data.tobytes())
        elif isinstance(data, np.ndarray):  # strings
            data = [masked(value) for value in data.ravel().tolist()]
        elif data is not None:
            data = masked(data)
        out[name] = (attrs, data)

    with h5py.File(path, "r") as file:
        visit("/", file)
        file.visititems(visit)
    return out


def _outputs(root: Path) -> dict:
    """The run's outputs, comparable between run folders: HDF5 files by content, tables by
    text (gzip by its decompressed text), SAE weights by bytes."""
    import gzip

    out = {"sae_weights": (root / "sae" / "sae_weights.safetensors").read_bytes()}
    for name in ("activations.h5", "concepts.h5", "features.h5", "alignment/alignment.h5"):
        out[name] = _h5_content(root / name, root)
    out["catalog.h5ad"] = _h5_content(root / "catalog" / "catalog.h5ad", root)
    for table in sorted([*root.glob("alignment/*.tsv*"), *root.glob("catalog/*.tsv")]):
        data = gzip.decompress(table.read_bytes()) if table.suffix == ".gz" else table.read_bytes()
        out[str(table.relative_to(root))] = data.decode().replace(str(root), "RUN")
    return out


@pytest.mark.slow
def test_slurm_run_preempted_midway_equals_a_local_run(slurm_cluster, tmp_path):
    """Every stage as a SLURM job (an array for the two extraction shards, then their merge),
    the SAE job warned (USR1) while it trains: it checkpoints, requeues, resumes, and the run's
    outputs are those of an uninterrupted local run."""
    import subprocess

    from genointerp.pipeline._slurm import submit

    path, config = _small_config(tmp_path, output="slurm_run")
    local = tmp_path / "local_run"
    run_local = subprocess.Popen(  # meanwhile, the same config run locally
        [sys.executable, "-m", "genointerp", "-q", "run", str(path), "-o", str(local)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ids = submit(config, path, env=slurm_cluster.env)
    root = Path(config.output)
    _wait_until(lambda: (root / "sae" / "checkpoint.pt").exists(), 150, "the SAE's first save")
    slurm_cluster.scancel(ids["sae"], "--signal=USR1", "--batch")
    jobs = slurm_cluster.wait_for(ids["report"], timeout=150)
    logs = {p.name: p.read_text() for p in (root / "slurm" / "logs").iterdir()}
    assert jobs[0]["JobState"] == "COMPLETED", logs
    sae = slurm_cluster.job(ids["sae"])
    sae_log = logs[f"sae-{ids['sae']}.out"]
    assert sae["Restarts"] == "1", sae_log
    assert f"exit status {PREEMPTED_EXIT}" in sae_log
    resumed = (root / "logs" / "sae.log").read_text()
    assert "resumed" in resumed, resumed
    tasks = slurm_cluster.jobs(ids["extract-shards"])
    assert [t["JobState"] for t in tasks] == ["COMPLETED", "COMPLETED"]
    assert len(ids) == 9  # concepts, extract array and merge, sae, encode, ..., report
    output, _ = run_local.communicate(timeout=150)
    assert run_local.returncode == 0, output
    ours, theirs = _outputs(root), _outputs(local)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        assert ours[name] == theirs[name], name


def test_cli_writes_the_scripts(tmp_path, capsys):
    import argparse

    from genointerp.cli import _slurm

    path, _ = _small_config(tmp_path)
    parser = argparse.ArgumentParser()
    _slurm.register(parser.add_subparsers())
    args = parser.parse_args(
        ["slurm", str(path), "-o", str(tmp_path / "out"), "--set", "extract.shards=3"]
    )
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "submit with: bash" in printed and "01-extract-shards.sbatch" in printed
    shards = (tmp_path / "out" / "slurm" / "01-extract-shards.sbatch").read_text()
    assert "#SBATCH --array=0-2\n" in shards


@pytest.mark.slow
def test_submitit_submits_the_chain(slurm_cluster, tmp_path, monkeypatch):
    """Through submitit (when installed): the first job runs its stage, the others wait on it."""
    pytest.importorskip("submitit")
    from genointerp.pipeline._slurm import submit_submitit

    for key in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(key, slurm_cluster.env[key])
    path, config = _small_config(tmp_path)
    ids = submit_submitit(config, path)
    stages = ["concepts", "extract-shards", "extract", "sae", "encode", "align", "rank"]
    assert list(ids) == [*stages, "export", "report"]
    try:
        (job,) = slurm_cluster.wait_for(ids["concepts"], timeout=90)
        assert job["JobState"] == "COMPLETED"
        assert (Path(config.output) / "concepts.h5").exists()
        waiting = slurm_cluster.job(ids["extract"])
        assert waiting["Dependency"].startswith(f"afterok:{ids['extract-shards']}")
        assert waiting["Requeue"] == "1"
    finally:
        slurm_cluster.run("scancel", *ids.values())
