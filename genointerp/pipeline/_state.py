"""What a run folder knows about its stages: fingerprints, records, the lock, peak memory.

A stage's **fingerprint** hashes its settings, the identity of its inputs (checksums of the
user's files, the output signatures of the stages it reads) and genointerp's version (which
fixes every file format's version).  When a stage finishes, its record
(``RUN/.pipeline/<stage>[.<genome>].json``) stores the fingerprint and the **signature** of its
outputs (path, size and modification time of every file).  A stage is up to date when its
record's fingerprint equals the one the config asks for and its outputs still have the recorded
signature; a record marked ``started`` with the same fingerprint means an interrupted run whose
partial files the stage resumes from.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import resource
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from .._atomic import atomic_path
from ..errors import GenointerpError

log = logging.getLogger(__name__)

STATE_DIR = ".pipeline"
LOCK_FILE = ".genointerp.lock"


def digest(value) -> str:
    """SHA-256 of a JSON-able value (keys sorted)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_checksum(path: str | Path) -> str:
    """SHA-256 of a file's bytes (for the user's input files, which are small)."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def signature(paths: Iterable[Path], root: Path) -> str | None:
    """Identity of outputs: every file's path, size and mtime; ``None`` when one is missing."""
    entries = []
    for path in paths:
        if not path.exists():
            return None
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.name.startswith(".tmp-") or file.name.endswith(".partial"):
                return None  # an unfinished write inside: not complete
            stat = file.stat()
            entries.append((str(file.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return digest(entries)


class Records:
    """The ``RUN/.pipeline`` folder: one JSON record per stage (and genome)."""

    def __init__(self, run: Path) -> None:
        self.folder = run / STATE_DIR

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict:
        path = self._path(key)
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}  # a damaged record only costs a re-run

    def put(self, key: str, record: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self._path(key)) as tmp:
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    def drop(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


@contextlib.contextmanager
def run_lock(run: Path, shard_key: str | None = None) -> Iterator[None]:
    """Hold the run folder's lock: exclusive, or shared plus an exclusive lock on one shard.

    ``flock`` locks vanish with the process, so a killed run never leaves a stale lock; the
    temporary files a killed run leaves are removed when the lock is next taken exclusively.
    """
    run.mkdir(parents=True, exist_ok=True)
    handles = []
    try:
        handles.append(_flock(run / LOCK_FILE, shared=shard_key is not None, run=run))
        if shard_key is None:
            remove_stale_temps(run)
        else:
            locks = run / STATE_DIR / "locks"
            locks.mkdir(parents=True, exist_ok=True)
            handles.append(_flock(locks / f"{shard_key}.lock", shared=False, run=run))
        yield
    finally:
        for handle in reversed(handles):
            handle.close()


def remove_stale_temps(run: Path) -> None:
    """Remove the ``.tmp-*`` files and folders (see :func:`genointerp._atomic.atomic_path`)
    that killed processes left in ``run``.

    Only with the run's lock held exclusively: then no other genointerp run writes the
    folder, so every temporary file in it belongs to a process that died before its rename.
    """
    stale = sorted(run.rglob(".tmp-*"))
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d temporary files left by an interrupted run in %s", len(stale), run)


def _flock(path: Path, *, shared: bool, run: Path):
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise GenointerpError(
            f"{run}: another genointerp run is writing this folder (lock {path.name}). Fix: "
            "wait for it to finish, or give this run another output folder"
        ) from None
    return handle


class PeakMemory:
    """Peak resident memory of this process during a block, in bytes.

    Linux resets the high-water mark when ``5`` is written to ``/proc/self/clear_refs``; where
    that is not allowed the process's lifetime peak is reported instead (``reset`` is False).
    """

    def __enter__(self) -> PeakMemory:
        self.reset = _reset_peak()
        self.bytes = 0
        return self

    def __exit__(self, *exc) -> None:
        self.bytes = _peak_bytes()


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def is_worker() -> bool:
    """True in a torchrun process other than rank 0 (it trains but writes no records)."""
    return int(os.environ.get("RANK", "0")) > 0
