"""A run as SLURM batch jobs: one job per stage, chained with ``--dependency=afterok``.

``write_scripts`` writes ``RUN/slurm/NN-<job>.sbatch`` and ``RUN/slurm/submit.sh``; ``submit``
submits them with ``sbatch``.  Sharded stages (``extract.shards``, ``encode.shards`` > 1) become
a job array, one task per shard (``--only STAGE --shard $SLURM_ARRAY_TASK_ID``), followed by a
merge job (the same stage without ``--shard``).  The SAE job runs under
``torch.distributed.run`` (torchrun) when ``slurm.gpus`` > 0.

Every job is requeueable and asks for SIGUSR1 ``signal_seconds`` before its time limit.  Its
script runs the command in the background, forwards SIGUSR1/SIGTERM to it, and when the command
exits with :data:`~genointerp.errors.PREEMPTED_EXIT` (it saved its progress, see
:func:`~genointerp.pipeline.preemptible`) requeues the job with ``scontrol requeue``; the
requeued job resumes where the stage stopped.  Logs append to ``RUN/slurm/logs/``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._atomic import atomic_path
from ..errors import PREEMPTED_EXIT, GenointerpError, Preempted

if TYPE_CHECKING:
    from ._config import PipelineConfig

_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")
_MEM = re.compile(r"^\d+[KMGT]?$")


@dataclass
class SlurmConfig:
    """How ``genointerp slurm`` writes and submits the run's batch jobs."""

    partition: str = ""
    """Partition (``--partition``) of every job; empty leaves it to the cluster's default."""
    account: str = ""
    """Account (``--account``) charged; empty leaves it to the cluster's default."""
    gpu_partition: str = ""
    """Partition of the GPU jobs (extraction with ``extract_gpus``, SAE training with ``gpus``);
    empty: ``partition``."""
    gpus: int = 0
    """GPUs of the SAE training job (``torchrun --nproc-per-node``); 0 trains on CPU."""
    extract_gpus: int = 0
    """GPUs of each extraction task (1 for a GPU model such as Evo 2); 0: CPU only."""
    cpus_per_task: int = 2
    """CPU cores per job (``--cpus-per-task``)."""
    mem: str = "8G"
    """Memory per job (``--mem``, e.g. ``8G``); empty leaves it to the cluster's default."""
    time: str = "02:00:00"
    """Time limit per job (``--time``: ``MM``, ``HH:MM:SS`` or ``D-HH:MM:SS``)."""
    signal_seconds: int = 120
    """Seconds before the time limit at which SLURM sends SIGUSR1, so a stage saves and requeues."""
    array_parallelism: int = 0
    """At most this many array tasks run at once (``--array=0-N%P``); 0: no limit."""
    python: str = ""
    """Python interpreter the jobs run genointerp with; empty: the one that writes the scripts
    (``sys.executable``), which must be reachable from the compute nodes."""
    setup: list[str] = field(default_factory=list)
    """Shell lines run before each job's command (``module load ...``,
    ``source venv/bin/activate``)."""
    options: list[str] = field(default_factory=list)
    """Extra ``sbatch`` options for every job, e.g. ``["--qos=long", "--constraint=a100"]``."""

    def __post_init__(self) -> None:
        for name in ("gpus", "extract_gpus", "array_parallelism"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} is {getattr(self, name)}, must be at least 0")
        if self.cpus_per_task < 1:
            raise ValueError(f"cpus_per_task is {self.cpus_per_task}, must be at least 1")
        if self.signal_seconds < 1:
            raise ValueError(f"signal_seconds is {self.signal_seconds}, must be at least 1")
        if not _TIME.match(self.time):
            raise ValueError(f"time {self.time!r} must look like 30, 02:00:00 or 1-12:00:00")
        if self.mem and not _MEM.match(self.mem):
            raise ValueError(f"mem {self.mem!r} must look like 8G or 16000M")
        bad = [o for o in self.options if not o.startswith("--")]
        if bad:
            raise ValueError(f"options {bad!r} must be long sbatch options like --qos=long")


@dataclass(frozen=True)
class SlurmJob:
    """One batch job of a run: a stage, a shard array of it, or its merge."""

    name: str
    """Job name: the stage, ``<stage>-shards`` (the array) or ``<stage>`` (its merge)."""
    argv: tuple[str, ...]
    """The command; ``$SLURM_ARRAY_TASK_ID`` stands for the task's shard."""
    after: tuple[str, ...] = ()
    """Names of the jobs that must end successfully first (``--dependency=afterok``)."""
    array: int = 0
    """Tasks of the job array (one per shard); 0: not an array."""
    gpus: int = 0
    """GPUs of the job (``--gres=gpu:N``)."""
    forward: str = "USR1"
    """Signal the command is sent when the job gets SLURM's warning (SIGUSR1).  torchrun gets
    TERM, which it passes on to its workers (SIGUSR1 would kill it)."""


def plan_jobs(config: PipelineConfig, config_path: str | Path) -> list[SlurmJob]:
    """The run's jobs in submission order, each after the one before it.

    Only array tasks of one stage run side by side: every other stage takes the run folder's
    exclusive lock, so the chain keeps them one at a time.
    """
    from ._config import SHARDED, STAGES

    slurm = config.slurm
    python = slurm.python or sys.executable
    run = (python, "-m", "genointerp", "run", str(Path(config_path).resolve()))
    jobs: list[SlurmJob] = []
    for stage in STAGES:
        after = (jobs[-1].name,) if jobs else ()
        shards = getattr(config, stage).shards if stage in SHARDED else 1
        gpus = slurm.extract_gpus if stage == "extract" else 0
        if shards > 1:
            task = (*run, "--only", stage, "--shard", "$SLURM_ARRAY_TASK_ID")
            jobs.append(SlurmJob(f"{stage}-shards", task, after, array=shards, gpus=gpus))
            after = (jobs[-1].name,)
        if stage == "sae" and slurm.gpus > 0:
            torchrun = (python, "-m", "torch.distributed.run", "--standalone")
            argv = (*torchrun, f"--nproc-per-node={slurm.gpus}", *run[1:], "--only", stage)
            jobs.append(SlurmJob(stage, argv, after, gpus=slurm.gpus, forward="TERM"))
        else:
            jobs.append(SlurmJob(stage, (*run, "--only", stage), after, gpus=gpus))
    return jobs


def job_script(job: SlurmJob, slurm: SlurmConfig, logs: str | Path) -> str:
    """The batch script of ``job``: ``#SBATCH`` lines, then the command run under the
    preemption wrapper (forward the warning signal, requeue on exit status 75)."""
    logs = Path(logs)
    log = logs / (f"{job.name}-%A_%a.out" if job.array else f"{job.name}-%j.out")
    partition = slurm.gpu_partition or slurm.partition if job.gpus else slurm.partition
    options = [
        f"--job-name=gi-{job.name}",
        f"--output={log}",
        "--open-mode=append",
        "--requeue",
        f"--signal=B:USR1@{slurm.signal_seconds}",
        f"--time={slurm.time}",
        "--nodes=1",
        f"--cpus-per-task={slurm.cpus_per_task}",
    ]
    if slurm.mem:
        options.append(f"--mem={slurm.mem}")
    if partition:
        options.append(f"--partition={partition}")
    if slurm.account:
        options.append(f"--account={slurm.account}")
    if job.gpus:
        options.append(f"--gres=gpu:{job.gpus}")
    if job.array:
        limit = f"%{slurm.array_parallelism}" if slurm.array_parallelism else ""
        options.append(f"--array=0-{job.array - 1}{limit}")
    options += slurm.options
    command = " ".join(_quote(arg) for arg in job.argv)
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in options), ""]
    lines += [f"# genointerp slurm: job {job.name}", *slurm.setup]
    lines.append(_WRAPPER.format(command=command, forward=job.forward, preempted=PREEMPTED_EXIT))
    return "\n".join(lines)


def write_scripts(config: PipelineConfig, config_path: str | Path) -> list[Path]:
    """Write ``RUN/slurm/NN-<job>.sbatch`` per job and ``RUN/slurm/submit.sh``; return them
    (the job scripts in order, then ``submit.sh``)."""
    folder = Path(config.output) / "slurm"
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    jobs = plan_jobs(config, config_path)
    paths = []
    for i, job in enumerate(jobs):
        path = folder / f"{i:02d}-{job.name}.sbatch"
        _write(path, job_script(job, config.slurm, logs))
        paths.append(path)
    submit_sh = folder / "submit.sh"
    _write(submit_sh, _submit_script(jobs, paths))
    return [*paths, submit_sh]


def submit(
    config: PipelineConfig, config_path: str | Path, *, env: dict[str, str] | None = None
) -> dict[str, str]:
    """Write the scripts and submit them with ``sbatch``; return ``{job name: job id}``.

    ``env`` is the environment of ``sbatch`` (e.g. with ``SLURM_CONF``); default: this one.
    """
    jobs = plan_jobs(config, config_path)
    paths = write_scripts(config, config_path)[:-1]
    ids: dict[str, str] = {}
    for job, path in zip(jobs, paths, strict=True):
        argv = ["sbatch", "--parsable"]
        if job.after:
            argv.append("--dependency=afterok:" + ":".join(ids[name] for name in job.after))
        ids[job.name] = _sbatch([*argv, str(path)], env)
    return ids


def submit_submitit(config: PipelineConfig, config_path: str | Path) -> dict[str, str]:
    """Submit the same jobs through submitit (``pip install submitit``); ``{job name: job id}``.

    Each job calls ``gi.pipeline.run(..., only=STAGE, shard=I)`` in a submitit job; arrays come
    from ``map_array``; the SAE job on GPUs runs one submitit task per GPU (torch.distributed
    from submitit's environment).  A warning signal (submitit's SIGUSR2, or SIGUSR1/SIGTERM)
    raises ``Preempted``: the stage saves, the job requeues itself and resumes.  Pickles and
    logs go to ``RUN/slurm/submitit/``.
    """
    try:
        import submitit
    except ImportError:
        raise GenointerpError(
            "submitit is not installed. Fix: pip install submitit, or submit with --submit (sbatch)"
        ) from None
    slurm = config.slurm
    executor = submitit.AutoExecutor(folder=Path(config.output) / "slurm" / "submitit" / "%j")
    path = str(Path(config_path).resolve())
    ids: dict[str, str] = {}
    for job in plan_jobs(config, config_path):
        stage = job.name.removesuffix("-shards")
        after = ":".join(ids[name] for name in job.after)
        executor.update_parameters(**_submitit_parameters(slurm, job, after))
        task = _SubmititStage(path, stage, distributed=stage == "sae" and job.gpus > 0)
        if job.array:
            jobs = executor.map_array(task, list(range(job.array)))
            ids[job.name] = jobs[0].job_id.split("_")[0]
        else:
            ids[job.name] = executor.submit(task, None).job_id
    return ids


def _submitit_parameters(slurm: SlurmConfig, job: SlurmJob, after: str) -> dict:
    extra: dict = {"requeue": True}
    if after:
        extra["dependency"] = f"afterok:{after}"
    for option in slurm.options:
        key, _, value = option[2:].partition("=")
        extra[key] = value or True
    partition = slurm.gpu_partition or slurm.partition if job.gpus else slurm.partition
    parameters = {
        "name": f"gi-{job.name}",
        "timeout_min": _minutes(slurm.time),
        "cpus_per_task": slurm.cpus_per_task,
        "nodes": 1,
        "slurm_signal_delay_s": slurm.signal_seconds,
        "slurm_additional_parameters": extra,
        "slurm_setup": list(slurm.setup),
        "stderr_to_stdout": True,
    }
    if job.gpus:
        tasks = job.gpus if job.name == "sae" else 1  # one SAE training process per GPU
        parameters.update(gpus_per_node=job.gpus, tasks_per_node=tasks)
    if slurm.mem:
        parameters["slurm_mem"] = slurm.mem
    if partition:
        parameters["slurm_partition"] = partition
    if slurm.account:
        parameters["slurm_account"] = slurm.account
    if slurm.array_parallelism:
        parameters["slurm_array_parallelism"] = slurm.array_parallelism
    return parameters


class _SubmititStage:
    """One stage (or one shard of it) as a submitit job: ``task(shard)``."""

    def __init__(self, config_path: str, stage: str, distributed: bool = False) -> None:
        self.config_path = config_path
        self.stage = stage
        self.distributed = distributed

    def __call__(self, shard: int | None) -> None:
        import os

        from ._config import load_config
        from ._preempt import preemptible
        from ._run import run

        if self.distributed:
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export()
        config = load_config(self.config_path)
        try:
            with preemptible(("SIGUSR1", "SIGUSR2", "SIGTERM")):
                run(config, only=self.stage, shard=shard, progress=False)
        except Preempted:
            if int(os.environ.get("RANK", "0")) == 0:
                subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=False)
            raise SystemExit(PREEMPTED_EXIT) from None


def _minutes(limit: str) -> int:
    """``--time`` text (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) in whole minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        parts += [0] * (3 - len(parts))
        hours, minutes, seconds = parts
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, (minutes, seconds) = 0, parts
    else:
        hours, minutes, seconds = 0, parts[0], 0
    total = (int(days or 0) * 24 + hours) * 60 + minutes + (seconds > 0)
    return max(total, 1)


def _sbatch(argv: list[str], env: dict[str, str] | None) -> str:
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GenointerpError(
            "sbatch not found. Fix: run on a SLURM login node, or write the scripts without "
            "--submit and submit RUN/slurm/submit.sh there"
        ) from None
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise GenointerpError(f"sbatch {argv[-1]} failed: {message[0]}")
    return result.stdout.strip().split(";")[0]


def _submit_script(jobs: list[SlurmJob], paths: list[Path]) -> str:
    lines = [
        "#!/bin/bash",
        "# Submit the run's jobs, each after the ones it needs (written by genointerp slurm).",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
    ]
    variable = {job.name: "job_" + job.name.replace("-", "_") for job in jobs}
    for job, path in zip(jobs, paths, strict=True):
        depend = ""
        if job.after:
            ids = ":".join(f"${{{variable[name]}}}" for name in job.after)
            depend = f" --dependency=afterok:{ids}"
        lines.append(f"{variable[job.name]}=$(sbatch --parsable{depend} {path.name})")
        lines.append(f'{variable[job.name]}="${{{variable[job.name]}%%;*}}"')
        lines.append(f'echo "{job.name}: ${{{variable[job.name]}}}"')
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
        tmp.chmod(0o755)


def _quote(arg: str) -> str:
    """Shell-quote, leaving ``$SLURM_ARRAY_TASK_ID`` to the shell."""
    if arg.startswith("$SLURM_"):
        return f'"{arg}"'
    return shlex.quote(arg)


# The command runs in the background so that bash can take SLURM's warning signal while it
# waits (a trap runs between the shell's commands: the `sleep` makes that at most a second).
# USR1 (--signal=B:USR1, sent to this shell only) is passed on to the command; TERM is not, since
# SLURM sends it to every process of the job (cancel, requeue, preemption, time limit) and a
# second one would kill the command while it saves.  The status comes from a `wait` that no
# trap interrupts (bash reports a trapped signal's status for a child reaped meanwhile).  On
# PREEMPTED_EXIT, or on any failure after a warning (torchrun exits with its own status), the
# job requeues itself.
_WRAPPER = """\
stop_signal=""
on_signal() {{
  stop_signal="$1"
  echo "genointerp slurm: $1 at $(date +%FT%T): saving and stopping"
  if [ "$1" = USR1 ]; then kill -{forward} "$child" 2>/dev/null || true; fi
}}
trap 'on_signal USR1' USR1
trap 'on_signal TERM' TERM
echo "genointerp slurm: job ${{SLURM_JOB_ID:-?}} on $(hostname) at $(date +%FT%T)" \\
  "(restart ${{SLURM_RESTART_COUNT:-0}})"
{command} &
child=$!
while kill -0 "$child" 2>/dev/null; do
  sleep 0.5
done
wait "$child"
status=$?
echo "genointerp slurm: exit status $status at $(date +%FT%T)"
if [ "$status" -eq {preempted} ] || {{ [ -n "$stop_signal" ] && [ "$status" -ne 0 ]; }}; then
  echo "genointerp slurm: requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID" || echo "genointerp slurm: (already requeued by SLURM)"
fi
exit "$status"
"""
