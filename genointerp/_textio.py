"""Open plain or gzip-compressed text files, turning low-level failures into clear errors.

Compression is detected from the file's first bytes, not its name, so a
``.gz`` that is not gzip and a plain file named ``.gz`` are both reported.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ._filekind import wrong_kind
from .errors import InputFormatError

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_binary(path: str | Path, error: type[InputFormatError], what: str) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing gzip transparently.

    Raises ``error`` (a subclass of :class:`InputFormatError`) when the file is
    missing, empty, or named ``.gz`` without being gzip-compressed.
    """
    path = Path(path)
    if not path.exists():
        raise error(path, f"{what} file not found", "check the path")
    if path.is_dir():
        raise error(path, f"is a folder, not a {what} file", "give the path of the file itself")
    if path.stat().st_size == 0:
        raise error(path, f"{what} file is empty", f"give a non-empty {what} file")
    gzipped = is_gzip(path)
    if path.suffix == ".gz" and not gzipped:
        raise error(
            path,
            "name ends in .gz but the file is not gzip-compressed",
            "compress it with gzip or remove the .gz from its name",
        )
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def iter_lines(
    path: str | Path, error: type[InputFormatError], what: str
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line)`` with line endings (LF or CRLF) removed.

    A truncated or corrupt gzip stream and binary content (NUL bytes) raise
    ``error`` naming the file and the line reached.
    """
    lineno = 0
    try:
        with open_binary(path, error, what) as handle:
            for lineno, raw in enumerate(handle, start=1):  # noqa: B007 - used in except
                if b"\x00" in raw:
                    raise error(
                        path,
                        "contains binary data (NUL bytes), not text",
                        f"give a plain-text or gzip-compressed {what} file",
                        line=lineno,
                    )
                yield lineno, raw.rstrip(b"\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        if isinstance(exc, InputFormatError):
            raise
        raise error(
            path,
            f"compressed data is truncated or corrupt after line {lineno} ({exc})",
            "download or copy the file again; `gzip -t FILE` checks it",
        ) from exc


def decode_line(
    raw: bytes, path: str | Path, lineno: int, error: type[InputFormatError], what: str
) -> str:
    """Decode one line as UTF-8, raising ``error`` for binary junk."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            path,
            "is not UTF-8 text (binary data?)",
            f"give a plain-text or gzip-compressed {what} file",
            line=lineno,
        ) from exc


_TEXT_BYTES = bytes([9, 10, 11, 12, 13, *range(32, 127)])


def looks_binary(data: bytes) -> bool:
    """True when the first 64 bytes hold control characters or bytes above ASCII."""
    return bool(data[:64].translate(None, _TEXT_BYTES))


def sniff_format(path: str | Path, error: type[InputFormatError]) -> str:
    """Guess ``fasta``, ``genbank`` or ``gff3`` from the first non-blank line."""
    for lineno, raw in iter_lines(path, error, "sequence"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b">"):
            return "fasta"
        if line.startswith(b"LOCUS"):
            return "genbank"
        if line.startswith(b"##gff-version"):
            return "gff3"
        other = wrong_kind(path, "binary")
        if looks_binary(line):
            raise error(
                path,
                f"is {other.removeprefix('it looks like ') or 'binary data'}, "
                "not a text sequence file",
                "give a FASTA, GenBank or GFF3 file (plain text or gzip-compressed)",
                line=lineno,
            )
        text = line[:40].decode("utf-8", "replace")
        raise error(
            path,
            f"{other + ': ' if other else ''}line {lineno} starts with {text!r}: not a FASTA "
            "header ('>'), GenBank LOCUS line or GFF3 '##gff-version' line",
            "give a FASTA file (each record starts with '>name'), a GenBank file or a GFF3 "
            "file with a ##FASTA section",
        )
    raise error(path, "contains only blank lines", "give a file with sequence records")
