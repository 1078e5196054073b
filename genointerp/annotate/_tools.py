"""The tools behind the annotators: Python bindings, Debian programs, their versions."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

from ..errors import GenointerpError

EXPTERM = Path("/usr/share/transtermhp/expterm.dat")  # TransTermHP's default confidence table


class AnnotatorUnavailableError(GenointerpError, RuntimeError):
    """A tool an annotator needs is not installed (one line: the tool and how to install it)."""


def program(name: str, package: str) -> str:
    """Full path of a Debian program, or an error saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise AnnotatorUnavailableError(
            f"the program {name!r} ({package}) is not on PATH. "
            f"Fix: apt-get install {package} (Debian/Ubuntu), or put {name} on PATH"
        )
    return path


def expterm() -> Path:
    """TransTermHP's ``expterm.dat``, or an error saying how to install it."""
    if not EXPTERM.is_file():
        raise AnnotatorUnavailableError(
            f"TransTermHP's confidence table {EXPTERM} is missing. Fix: apt-get install transtermhp"
        )
    return EXPTERM


@functools.cache
def program_version(path: str) -> str:
    """The version a program prints in its usage text (``v2.08`` gives ``2.08``)."""
    run = subprocess.run([path], capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r"\bv(\d+(?:\.\d+)+)", run.stdout + run.stderr)
    return found.group(1) if found else "unknown"


def transterm_version() -> str:
    return f"TransTermHP {program_version(program('transterm', 'transtermhp'))}"


def pilercr_version() -> str:
    return f"PILER-CR {program_version(program('pilercr', 'pilercr'))}"


def prodigal_version() -> str:
    import pyrodigal

    core = pyrodigal.PRODIGAL_VERSION.lstrip("v").split("+")[0]
    return f"pyrodigal {pyrodigal.__version__} (Prodigal {core})"


def aragorn_version() -> str:
    import pyaragorn

    return f"pyaragorn {pyaragorn.__version__} (ARAGORN {pyaragorn.ARAGORN_VERSION})"


def barrnap_version() -> str:
    import pybarrnap
    import pyhmmer

    return f"pybarrnap {pybarrnap.__version__} (pyhmmer {pyhmmer.__version__})"
