"""Exception types.

Every error genointerp raises for bad input says what was wrong, where (file,
line or record) and how to fix it, in one line.  The CLI prints that line and
exits non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from pathlib import Path


class GenointerpError(Exception):
    """Base class of every error genointerp raises on purpose."""


class InputFormatError(GenointerpError, ValueError):
    """A file does not follow its format.

    Parameters
    ----------
    path
        The offending file.
    problem
        What is wrong.
    fix
        What the user should do about it.
    line
        1-based line number, if known.
    record
        Record (sequence or feature) name, if known.
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        fix: str = "",
        *,
        line: int | None = None,
        record: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        self.line = line
        self.record = record
        where = self.path
        if line is not None:
            where += f", line {line}"
        if record is not None:
            where += f", record {record!r}"
        message = f"{where}: {problem}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)


class GenomeFormatError(InputFormatError):
    """Malformed FASTA or GenBank sequence input."""


class AnnotationFormatError(InputFormatError):
    """Malformed GFF3, GenBank feature table or BED input."""


class ConfigError(InputFormatError):
    """Malformed YAML configuration, manifest or concept catalog."""


class ContigNameError(GenointerpError, KeyError):
    """A contig name that matches no contig of the genome, even through aliases.

    ``problem`` and ``fix`` are kept apart so readers can re-raise them with a file and line.
    """

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. Fix: {fix}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DatasetError(GenointerpError):
    """A data set cannot be found, fetched or verified."""


class ChecksumError(DatasetError):
    """A fetched file does not match the checksum its manifest records."""


class CheckpointError(InputFormatError):
    """Model or SAE weights that cannot be read: truncated, corrupt or of another kind."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that holds pickled Python objects: refused, since unpickling can run code."""


class StoreVersionError(GenointerpError):
    """An on-disk file has an unknown encoding type or version."""


class NotBuiltYetError(GenointerpError, NotImplementedError):
    """A pipeline stage that this version of genointerp does not provide yet."""


class SAEMismatchError(GenointerpError):
    """An SAE used with another model or layer than the one it was trained on."""


class Preempted(BaseException):
    """The scheduler asked the job to stop (SIGUSR1 or SIGTERM before its time limit).

    A ``BaseException`` like ``KeyboardInterrupt``: code that catches ``Exception`` lets it
    through.  A stage that receives it saves what it can resume from and re-raises; the CLI
    exits with :data:`PREEMPTED_EXIT` so the job script can requeue itself.
    """

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        self.signal_name = signal_name
        super().__init__(f"stopped by {signal_name}; the next run resumes from the last save")


PREEMPTED_EXIT = 75  # EX_TEMPFAIL: "try again later"
