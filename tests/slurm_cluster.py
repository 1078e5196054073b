"""A real one-node SLURM cluster for tests: Debian's munged, slurmctld and slurmd on 127.0.0.1.

Everything lives in a temporary folder: the munge key, ``slurm.conf``, the daemons' state, spool
and logs.  The daemons run as root in the foreground (we keep their process handles) on ports
picked free at start, so they never touch a system-wide SLURM.  No cgroups: processes are tracked
by ``proctrack/linuxproc``, tasks are not confined (``task/none``).  Requeued jobs may start again
after ``cred_expire`` seconds (``AuthInfo``), set low here so requeue tests run in seconds.

``.ci/run`` installs the packages (``apt-get install slurm-wlm munge``).  Without them the
``slurm_cluster`` fixture skips, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
CPUS = 2
CRED_EXPIRE = 5  # seconds a requeued job waits before it may start again (default 120)
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


def missing_binaries() -> list[str]:
    """The daemons and client commands of the cluster that are not on PATH (or in /usr/sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [name for name in BINARIES if shutil.which(name, path=path) is None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _real_memory_mb() -> int:
    """9/10 of the machine's memory: a node that reports less than its configuration is drained."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 9 // 10 // 1024
    return 1024


class SlurmCluster:
    """A running one-node cluster: its environment and the client commands used by tests.

    Parameters
    ----------
    root
        Folder holding the key, the configuration, the daemons' state and logs.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self._daemons: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        """This process's environment (as it is now) pointed at the cluster (``SLURM_CONF``)."""
        path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    # -- the daemons -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Write the key and configuration, start munged, slurmctld and slurmd, wait for idle."""
        self._write_munge_key()
        self._write_conf()
        munge = self.root / "munge"
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={munge / 'munge.key'}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--seed-file={munge / 'munged.seed'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
            ],
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged's socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait(self._controller_up, timeout, "slurmctld to answer")
        self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
        self._wait(lambda: self.node_state() == "IDLE", timeout, f"node {self.node} to be idle")

    def stop(self) -> None:
        """Stop slurmd, slurmctld and munged (SIGTERM, then SIGKILL after 10 s), in that order."""
        for name in ("slurmd", "slurmctld", "munged"):
            process = self._daemons.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.stdout", "ab")  # noqa: SIM115 - kept by Popen
        self._daemons[name] = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self._daemons.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: {self.logs()}")
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"waited {timeout:.0f} s for {what}: {self.logs()}")

    def _controller_up(self) -> bool:
        return self.run("scontrol", "ping", check=False).stdout.find("UP") >= 0

    def logs(self, tail: int = 2000) -> str:
        """The last characters of every daemon log, for error messages."""
        parts = []
        for path in sorted((self.root / "log").iterdir()):
            text = path.read_text(errors="replace")[-tail:]
            parts.append(f"\n--- {path.name} ---\n{text}")
        return "".join(parts)

    def _write_munge_key(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.root / "log").mkdir(mode=0o700, exist_ok=True)
        key = munge / "munge.key"
        key.write_bytes(secrets.token_bytes(128))
        key.chmod(0o400)

    def _write_conf(self) -> None:
        for folder in ("state", "spool"):
            (self.root / folder).mkdir(mode=0o755, exist_ok=True)
        self.conf.write_text(
            _CONF.format(
                node=self.node,
                root=self.root,
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
                socket=self.munge_socket,
                cred_expire=CRED_EXPIRE,
                cpus=CPUS,
                memory=_real_memory_mb(),
            )
        )

    # -- the client commands -----------------------------------------------------------------
    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster; its output is text."""
        result = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
        return result

    def sbatch(self, script: str | Path, *options: str, cwd: str | Path | None = None) -> str:
        """Submit a batch script (a path, or the script's text); return the job id."""
        argv = ["sbatch", "--parsable", *options]
        if isinstance(script, Path):
            argv.append(str(script))
            result = subprocess.run(
                argv, env=self.env, capture_output=True, text=True, cwd=cwd, timeout=60
            )
        else:
            result = subprocess.run(
                argv, env=self.env, capture_output=True, text=True, cwd=cwd, timeout=60,
                input=script,
            )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"sbatch failed ({result.returncode}): {result.stderr}")
        return result.stdout.strip().split(";")[0]

    def squeue(self) -> list[dict[str, str]]:
        """Jobs in the queue: id (array tasks as ``ID_TASK``), name and state of each."""
        out = self.run("squeue", "--noheader", "--array", "--format=%i|%j|%T").stdout
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return [{"id": r[0], "name": r[1], "state": r[2]} for r in rows]

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (one dict for the job or its first array task)."""
        out = self.run("scontrol", "show", "job", "--oneliner", str(job_id)).stdout
        return dict(re.findall(r"(\w+)=(\S*)", out.splitlines()[0]))

    def jobs(self, job_id: str) -> list[dict[str, str]]:
        """``scontrol show job`` of a job or of every task of an array job."""
        out = self.run("scontrol", "show", "job", "--oneliner", str(job_id)).stdout
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line]

    def wait_for(self, job_id: str, timeout: float = 120.0) -> list[dict[str, str]]:
        """Wait until the job (every task of an array) has ended; return ``jobs(job_id)``.

        Raises ``TimeoutError`` with the queue and the daemons' logs when it takes longer.
        """
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.jobs(job_id)
            if jobs and all(job["JobState"] in TERMINAL for job in jobs):
                return jobs
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still running: {jobs} {self.logs()}")
            time.sleep(0.25)

    def requeue(self, job_id: str) -> None:
        """``scontrol requeue``: stop the job and put it back in the queue."""
        self.run("scontrol", "requeue", str(job_id))

    def scancel(self, job_id: str, *options: str) -> None:
        """``scancel`` with options, e.g. ``"--signal=USR1", "--batch"``."""
        self.run("scancel", *options, str(job_id))

    def node_state(self) -> str:
        out = self.run("scontrol", "show", "node", "--oneliner", self.node, check=False).stdout
        match = re.search(r"State=(\S+)", out)
        return match.group(1) if match else ""


_CONF = """\
# A one-node test cluster (tests/slurm_cluster.py); everything under {root}
ClusterName=genointerp-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket},cred_expire={cred_expire}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/state/slurmctld.pid
SlurmdPidFile={root}/spool/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName={node} NodeHostname={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> Iterator[SlurmCluster]:
    """A running one-node SLURM cluster for the whole session, stopped at its end.

    Skips when Debian's ``slurm-wlm`` and ``munge`` are not installed, except under CI=true,
    where it fails (``.ci/run`` installs them).
    """
    missing = missing_binaries()
    if missing or os.geteuid() != 0:
        why = f"missing {', '.join(missing)}" if missing else "not root"
        message = f"no SLURM test cluster ({why}): apt-get install slurm-wlm munge, as root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
