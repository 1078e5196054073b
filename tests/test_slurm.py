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
