"""Write files atomically: to a temporary file beside the target, then rename.

Temporary files and folders made by :mod:`tempfile` are private (0600, 0700); the
ones that become outputs are given the mode an ordinary ``open`` or ``mkdir`` would
have given them (0666 or 0777 less the user's umask) before they are renamed into
place, so collaborators and web servers can read a run as they could any other file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

FILE_MODE = 0o666
FOLDER_MODE = 0o777


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def umask_mode(path: str | Path) -> None:
    """Give ``path`` the mode a fresh ``open`` or ``mkdir`` would: 0666 or 0777 less the umask.

    Folders, and files their writer made executable (scripts), take 0777 less the umask.
    """
    mode = os.stat(path).st_mode
    executable = stat.S_ISDIR(mode) or bool(mode & 0o111)
    os.chmod(path, (FOLDER_MODE if executable else FILE_MODE) & ~current_umask())


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``target``, on error delete it.

    The temporary file lives in the target's folder so the final rename is
    atomic on POSIX file systems.  A reader never sees a half-written file and
    a crash leaves at most a ``.tmp-*`` file, never a truncated target.  The
    file takes the user's umask, like any file ``open`` creates.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> out.read_text()
    'hello'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask_mode(tmp)  # after writing: some writers (safetensors) replace the file
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``target`` when closed without error."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def make_temp_folder(parent: str | Path, prefix: str) -> Path:
    """``tempfile.mkdtemp`` in ``parent``, with the umask's mode: for folders renamed into place."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    umask_mode(folder)
    return folder
