"""The fault suite's tools: kill ``genointerp run`` with SIGKILL at random points, check what
a killed run leaves behind, and compare a finished run folder with an uninterrupted one.

``Forkserver`` is a Python process that imports genointerp and its heavy dependencies once and
then forks one child per command; the child runs ``genointerp.cli.main(argv)`` exactly as the
``genointerp`` console script does.  Without it each of the suite's ~60 runs would spend seconds
importing torch and scanpy before its stage even starts.  The children are ordinary processes:
SIGKILL ends them at once, with no handler, no ``finally`` and no ``atexit``.

Run as ``python -m tests.fault_tools`` it is that server (one JSON command a line on stdin).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# Not outputs of any stage: the stages' logs and records (records hold mtimes), the lock.
IGNORED_PARTS = ("logs", ".pipeline")
IGNORED_NAMES = (".genointerp.lock", "fault.out")
# Files a stage rewrites as it goes (resume points); after a kill they must be readable,
# not equal to the finished ones.
PROGRESS_FILES = ("sae/checkpoint.pt", "sae/train_log.tsv")
STARTED = "stage {key} started"
# A finished shard (extract.shards, encode.shards > 1): read by the merge, removed after it.
SHARD_FILE = re.compile(r"\.shard-\d+-of-\d+\.h5$")


# -- the fork server ----------------------------------------------------------------------


class Forkserver:
    """A pre-imported Python that runs ``genointerp`` commands in forked children."""

    def __init__(self, env: dict | None = None, timeout: float = 300) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fault_tools"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._buffer = b""
        ready = self._read(timeout)
        if ready != {"ready": True}:
            raise RuntimeError(f"fork server did not start: {ready}")

    def start(self, argv: list[str], cwd: Path, output: Path, audit: Path | None = None) -> int:
        """Start ``genointerp ARGV`` in ``cwd`` (stdout and stderr appended to ``output``;
        with ``audit``, every file opened for writing listed there); returns its pid."""
        command = {"argv": argv, "cwd": str(cwd), "output": str(output)}
        if audit is not None:
            command["audit"] = str(audit)
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(60)["pid"]

    def wait(self, timeout: float | None = None) -> int | None:
        """The child's exit status (``-9`` when killed), or None if it runs past ``timeout``."""
        reply = self._read(timeout)
        return None if reply is None else reply["exit"]

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    def _read(self, timeout: float | None) -> dict | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"fork server exited ({self.proc.poll()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


def _preload() -> None:
    """Import what the stages import, so that forked children start at once."""
    import torch  # noqa: F401

    import genointerp
    import genointerp.cli  # noqa: F401

    for name in (*genointerp._SUBMODULES, "pl._feature_map"):
        __import__(f"genointerp.{name}")
    for name in ("anndata", "scanpy", "umap", "pynndescent", "matplotlib.pyplot", "pybigtools"):
        with contextlib.suppress(ImportError):
            __import__(name)


def _child(command: dict) -> None:
    """In the forked child: run the command, then exit without the parent's cleanup."""
    code = 1
    try:
        os.chdir(command["cwd"])
        out = os.open(command["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        if command.get("audit"):
            _audit_writes(command["audit"])
        from genointerp.cli import main

        code = main(command["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _audit_writes(audit: str) -> None:
    """Append ``{"path", "how"}`` to ``audit`` for every file this process opens for writing.

    Python's ``open`` audit event covers ``open``, ``os.open`` (so ``tempfile``), pandas,
    matplotlib and ``shutil``; h5py, ``torch.save`` and pybigtools open their files in C or
    Rust and are wrapped here.  (Writers bound by ``from x import f`` before this runs, such
    as safetensors' ``save_file``, are not seen.)
    """
    fd = os.open(audit, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(path, how: str) -> None:
        if isinstance(path, str | bytes | os.PathLike):
            line = json.dumps({"path": os.path.abspath(os.fsdecode(path)), "how": how})
            os.write(fd, (line + "\n").encode())

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if (set(mode or "") & set("wax+")) or (mode is None and flags & WRITE_FLAGS):
                record(path, f"open {mode or oct(flags)}")

    sys.addaudithook(hook)
    import h5py
    import torch

    file_init, save = h5py.File.__init__, torch.save

    def h5py_file(self, name, mode="r", *args, **kwargs):
        if mode not in (None, "r"):
            record(name, f"h5py.File {mode}")
        file_init(self, name, mode, *args, **kwargs)

    def torch_save(obj, f, *args, **kwargs):
        record(f, "torch.save")
        return save(obj, f, *args, **kwargs)

    h5py.File.__init__, torch.save = h5py_file, torch_save
    with contextlib.suppress(ImportError):
        import pybigtools

        bigtools_open = pybigtools.open

        def bigtools(path, mode="r", *args, **kwargs):
            if mode != "r":
                record(path, f"pybigtools.open {mode}")
            return bigtools_open(path, mode, *args, **kwargs)

        pybigtools.open = bigtools


def in_place_writes(audit: Path, root: Path) -> list[str]:
    """Files under ``root`` that an audited run wrote in place, not through a temporary
    file renamed into place: a kill at the wrong moment leaves them half-written.

    Allowed in place: ``.tmp-*`` files and folders, resumable ``*.partial`` stores, the
    stage logs, the lock files, and whole lines appended to the SAE's training log (a
    ``write`` of one short line is not split by a kill).
    """
    found = []
    for line in audit.read_text().splitlines():
        entry = json.loads(line)
        path = Path(entry["path"])
        if not path.is_relative_to(root):
            continue
        rel = path.relative_to(root)
        allowed = (
            is_scratch(rel.as_posix())
            or rel.parts[0] in IGNORED_PARTS
            or rel.name in IGNORED_NAMES
            or (rel.as_posix() == "sae/train_log.tsv" and entry["how"] == "open a")
        )
        if not allowed:
            found.append(f"{rel.as_posix()} ({entry['how']})")
    return sorted(set(found))


def _serve() -> None:
    _preload()
    reply = sys.stdout.buffer

    def send(value: dict) -> None:
        reply.write((json.dumps(value) + "\n").encode())
        reply.flush()

    send({"ready": True})
    for line in sys.stdin.buffer:
        command = json.loads(line)
        # fork is safe only while this process runs no other Python thread
        assert threading.active_count() == 1, threading.enumerate()
        pid = os.fork()
        if pid == 0:
            _child(command)
        send({"pid": pid})
        _, status = os.waitpid(pid, 0)
        send({"exit": os.waitstatus_to_exitcode(status)})


# -- running and killing --------------------------------------------------------------------


def stage_key(stage: str, genome: str = "g0") -> str:
    """The stage's name in its log and record (``sae`` is shared by all genomes)."""
    return stage if stage == "sae" else f"{stage}.{genome}"


def log_size(root: Path, key: str) -> int:
    path = root / "logs" / f"{key}.log"
    return path.stat().st_size if path.exists() else 0


def started_since(root: Path, key: str, offset: int) -> bool:
    """Has ``RUN/logs/<key>.log`` said "stage <key> started" past byte ``offset``?"""
    path = root / "logs" / f"{key}.log"
    if not path.exists():
        return False
    with open(path, "rb") as handle:
        handle.seek(offset)
        return STARTED.format(key=key).encode() in handle.read()


def run_and_kill(
    server: Forkserver,
    folder: Path,
    argv: list[str],
    key: str,
    delay: float | None,
    *,
    ready: Callable[[], bool] | None = None,
    audit: Path | None = None,
    timeout: float = 300,
) -> tuple[int, float]:
    """Start ``genointerp ARGV`` in ``folder``; ``delay`` s after the log of stage ``key``
    says it started (and, with ``ready``, after ``ready()`` turns true), SIGKILL it.
    ``delay`` None: let it finish.

    Returns ``(exit status, seconds from "started" to exit or kill)``; the seconds are
    ``nan`` when the stage never started (up to date, or an error first).
    """
    root = folder / "run"
    before = log_size(root, key)
    pid = server.start(argv, folder, folder / "fault.out", audit)
    deadline = time.monotonic() + timeout
    while not started_since(root, key, before):
        exit_code = server.wait(0.005)
        if exit_code is not None:
            return exit_code, float("nan")
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            server.wait(60)
            raise AssertionError(f"{argv}: stage {key} did not start in {timeout} s")
    started = time.monotonic()
    while ready is not None and not ready():
        exit_code = server.wait(0.002)
        if exit_code is not None:
            return exit_code, time.monotonic() - started
    exit_code = server.wait(timeout if delay is None else delay)
    if exit_code is None:
        os.kill(pid, signal.SIGKILL)
        exit_code = server.wait(60)
    return exit_code, time.monotonic() - started


def output_tail(folder: Path, lines: int = 15) -> str:
    path = folder / "fault.out"
    return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""


def copy_folder(source: Path, target: Path) -> Path:
    """A copy of a config folder and its run (mtimes kept: the records stay valid)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True)
    (target / "fault.out").unlink(missing_ok=True)
    return target


# -- what a run folder holds --------------------------------------------------------------


def output_files(root: Path) -> dict[str, Path]:
    """Every file of a run folder that some stage writes (by path relative to ``root``)."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() and not path.is_symlink():
            continue
        if rel.parts[0] in IGNORED_PARTS or rel.name in IGNORED_NAMES:
            continue
        files[rel.as_posix()] = path
    return files


def is_scratch(rel: str) -> bool:
    """A temporary or resumable partial file, never read as an output."""
    parts = rel.split("/")
    return any(p.startswith(".tmp-") for p in parts) or rel.endswith(".partial")


def check_killed(base: Path, root: Path) -> list[str]:
    """Problems a killed run left: a file at a final path that is not the finished file.

    Every file outside ``.tmp-*`` and ``*.partial`` must equal the uninterrupted run's, except
    the SAE's checkpoint and training log and finished shards, which must be readable.
    """
    expected = output_files(base)
    problems = []
    for rel, path in output_files(root).items():
        if is_scratch(rel):
            continue
        if rel in PROGRESS_FILES or SHARD_FILE.search(rel):
            problem = _unreadable(path)
        elif rel == "run.json":
            problem = _run_json_problem(path)
        elif rel not in expected:
            problem = "not written by an uninterrupted run"
        else:
            problem = compare_file(expected[rel], path)
        if problem:
            problems.append(f"{rel}: {problem}")
    return problems


def compare_runs(base: Path, root: Path, ignore: tuple[str, ...] = ()) -> list[str]:
    """Differences between a finished run folder and the uninterrupted one (``ignore``:
    HDF5 objects and attributes, by name, left out of the comparison)."""
    expected, found = output_files(base), output_files(root)
    problems = [f"{rel}: missing" for rel in expected if rel not in found]
    problems += [f"{rel}: extra file" for rel in found if rel not in expected]
    for rel in expected.keys() & found.keys():
        problem = compare_file(expected[rel], found[rel], ignore)
        if problem:
            problems.append(f"{rel}: {problem}")
    return sorted(problems)


# -- comparing one file ---------------------------------------------------------------------


def compare_file(expected: Path, found: Path, ignore: tuple[str, ...] = ()) -> str | None:
    """None when ``found`` holds what ``expected`` holds, else what differs.

    Content, not bytes, where bytes embed a time: HDF5 (h5py: every dataset and attribute),
    safetensors and torch files (tensors), gzip (the decompressed text; gzip's header holds
    a time), ``train_log.tsv`` (its ``seconds`` column is a wall time), ``run.json`` (stage
    timings).  Everything else (TSV, JSON, BED, bigBed/bigWig, PNG, HTML) byte for byte.
    """
    if expected.is_symlink() or found.is_symlink():
        same = os.readlink(expected) == os.readlink(found) if found.is_symlink() else False
        return None if same else "symlink differs"
    try:
        if _kind(expected) in (".h5", ".h5ad"):
            return _compare_h5(expected, found, ignore)
        return _COMPARE.get(_kind(expected), _compare_bytes)(expected, found)
    except Exception as err:  # an unreadable file is a difference, named with its error
        return f"unreadable ({type(err).__name__}: {err})"


def _kind(path: Path) -> str:
    if path.name in ("train_log.tsv", "run.json"):
        return path.name
    return "".join(path.suffixes[-1:])


def _compare_bytes(expected: Path, found: Path) -> str | None:
    a, b = expected.read_bytes(), found.read_bytes()
    if a == b:
        return None
    return f"bytes differ ({len(a)} bytes expected, {len(b)} found)"


def _compare_gzip(expected: Path, found: Path) -> str | None:
    a, b = (gzip.decompress(p.read_bytes()) for p in (expected, found))
    return None if a == b else "decompressed text differs"


def _compare_h5(expected: Path, found: Path, ignore: tuple[str, ...] = ()) -> str | None:
    import h5py

    with h5py.File(expected, "r") as a, h5py.File(found, "r") as b:
        items_a, items_b = _h5_items(a, ignore), _h5_items(b, ignore)
        if items_a.keys() != items_b.keys():
            return f"objects differ: {sorted(items_a.keys() ^ items_b.keys())[:5]}"
        for name, obj in items_a.items():
            other = items_b[name]
            problem = _compare_attrs(obj.attrs, other.attrs, ignore)
            if problem:
                return f"{name or '/'} attribute {problem}"
            if isinstance(obj, h5py.Dataset):
                if obj.dtype != other.dtype or obj.shape != other.shape:
                    return f"{name}: {obj.dtype}{obj.shape} vs {other.dtype}{other.shape}"
                if not _equal(obj[()], other[()]):
                    return f"{name}: values differ"
    return None


def _read_h5(path: Path) -> None:
    """Read every dataset of an HDF5 file (raises on a truncated or damaged one)."""
    import h5py

    with h5py.File(path, "r") as file:
        for obj in _h5_items(file).values():
            dict(obj.attrs)
            if isinstance(obj, h5py.Dataset):
                obj[()]


def _h5_items(file, ignore: tuple[str, ...] = ()) -> dict:
    items = {"": file}
    file.visititems(lambda name, obj: items.__setitem__(name, obj))
    return {k: v for k, v in items.items() if k.split("/")[0] not in ignore}


def _compare_attrs(a, b, ignore: tuple[str, ...] = ()) -> str | None:
    names, others = set(a) - set(ignore), set(b) - set(ignore)
    if names != others:
        return f"names differ: {sorted(names ^ others)}"
    for key in names:
        if not _equal(a[key], b[key]):
            return f"{key!r}: {a[key]!r} vs {b[key]!r}"
    return None


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _compare_safetensors(expected: Path, found: Path) -> str | None:
    from safetensors import safe_open

    with safe_open(expected, "np") as a, safe_open(found, "np") as b:
        if a.metadata() != b.metadata():
            return "metadata differs"
        names, others = set(a.keys()), set(b.keys())
        if names != others:
            return f"tensors differ: {sorted(names ^ others)}"
        for key in sorted(names):
            if not _equal(a.get_tensor(key), b.get_tensor(key)):
                return f"tensor {key} differs"
    return None


def _compare_torch(expected: Path, found: Path) -> str | None:
    import torch

    a, b = (torch.load(p, weights_only=True, map_location="cpu") for p in (expected, found))
    return _compare_nested(a, b, "")


def _compare_nested(a, b, where: str) -> str | None:
    import torch

    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where or '/'}: keys differ: {sorted(set(a) ^ set(b), key=str)}"
        for key in a:
            problem = _compare_nested(a[key], b[key], f"{where}/{key}")
            if problem:
                return problem
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            problem = _compare_nested(x, y, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if torch.is_tensor(a) and torch.is_tensor(b):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return None if same else f"{where}: tensor differs"
    return None if type(a) is type(b) and a == b else f"{where}: {a!r} vs {b!r}"


def _read_train_log(path: Path) -> list[list[str]]:
    """Rows of ``train_log.tsv`` without its ``seconds`` column (a wall time)."""
    lines = path.read_text().split("\n")
    if lines[-1] != "":
        raise ValueError("last line is not terminated")
    rows = [line.split("\t") for line in lines[:-1]]
    header = rows[0]
    if any(len(row) != len(header) for row in rows) or header[0] != "step":
        raise ValueError("rows with another number of columns than the header")
    for row in rows[1:]:
        int(row[0])
    drop = header.index("seconds")
    return [row[:drop] + row[drop + 1 :] for row in rows]


def _compare_train_log(expected: Path, found: Path) -> str | None:
    a, b = _read_train_log(expected), _read_train_log(found)
    if a == b:
        return None
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    return f"rows differ (first at line {first}; {len(a)} rows expected, {len(b)} found)"


def _run_json_content(path: Path) -> dict:
    """``run.json`` without its stage timings (which stages are recorded is kept)."""
    info = json.loads(path.read_text())
    info["stages"] = {k: sorted(v) for k, v in info.get("stages", {}).items()}
    return info


def _compare_run_json(expected: Path, found: Path) -> str | None:
    a, b = _run_json_content(expected), _run_json_content(found)
    return None if a == b else f"differs: {a} vs {b}"


def _run_json_problem(path: Path) -> str | None:
    """After a kill ``run.json`` may list fewer stages, but must read as JSON."""
    try:
        _run_json_content(path)
    except (ValueError, AttributeError) as err:
        return f"unreadable ({err})"
    return None


def _unreadable(path: Path) -> str | None:
    """A resume file or a finished shard after a kill: readable, whatever step it is at."""
    try:
        if path.suffix == ".h5":
            _read_h5(path)
        elif path.suffix == ".pt":
            import torch

            state = torch.load(path, weights_only=True, map_location="cpu")
            assert isinstance(state, dict) and "step" in state, "not a checkpoint"
        else:
            _read_train_log(path)
    except Exception as err:
        return f"unreadable after the kill ({type(err).__name__}: {err})"
    return None


_COMPARE: dict[str, Callable[[Path, Path], str | None]] = {
    ".safetensors": _compare_safetensors,
    ".pt": _compare_torch,
    ".gz": _compare_gzip,
    "train_log.tsv": _compare_train_log,
    "run.json": _compare_run_json,
}


if __name__ == "__main__":
    _serve()
