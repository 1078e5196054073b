"""What a file looks like, from its first bytes: for errors about a file of the wrong kind.

A GFF3 given as a genome, an activation store given as an SAE or a FASTA given as a
config should be named as what they are ("it looks like a GFF3 file"), not reported as
a broken file of the kind that was expected.  :func:`sniff` guesses the kind from magic
bytes and the first lines; :func:`wrong_kind` turns that into the phrase for an error.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import NamedTuple

_HEAD = 1 << 16  # bytes read to guess
_YAML_KEY = re.compile(rb"^[A-Za-z_][\w.-]*\s*:(\s|$)")


class FileKind(NamedTuple):
    """A guess at a file's kind: a short ``key`` and a phrase for messages."""

    key: str
    """``fasta``, ``genbank``, ``gff3``, ``bed``, ``meme``, ``yaml``, ``json``, ``hdf5``,
    ``safetensors``, ``torch``, ``pickle``, ``zip``, ``png``, ``pdf`` or ``binary``."""
    description: str
    """E.g. ``"a GFF3 file"``, ``"an HDF5 file (a genointerp activation store)"``."""


_MAGIC = (
    (b"\x89HDF\r\n\x1a\n", "hdf5", "an HDF5 file"),
    (b"\x89PNG", "png", "a PNG image"),
    (b"%PDF", "pdf", "a PDF document"),
)
# genointerp's HDF5 encoding types, named as the user knows them.
_HDF5_KINDS = {
    "activation-store": "a genointerp activation store",
    "feature-activations": "a genointerp feature-activation file",
    "concept-tracks": "a genointerp concept-tracks file",
    "alignment": "a genointerp alignment",
}


def sniff(path: str | Path) -> FileKind | None:
    """Guess what ``path`` holds; None when it is missing, empty or unrecognised.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.yaml"
    >>> _ = p.write_text("##gff-version 3\\nchr1\\t.\\tgene\\t1\\t9\\t.\\t+\\t.\\tID=g\\n")
    >>> sniff(p).description
    'a GFF3 file'
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError:
        return None
    if not head:
        return None
    if head[:2] == b"\x1f\x8b":
        inner = _gunzip_head(head)
        kind = _sniff_bytes(inner, path) if inner else None
        if kind is None:
            return FileKind("gzip", "a gzip-compressed file")
        return FileKind(kind.key, kind.description.replace("a ", "a gzip-compressed ", 1))
    return _sniff_bytes(head, path)


def wrong_kind(path: str | Path, *expected: str) -> str:
    """``"it looks like a GFF3 file"`` when ``path`` is recognisably none of ``expected`` keys.

    Returns ``""`` when the file is of an expected kind or cannot be recognised, so callers
    can append it to a message unconditionally.
    """
    kind = sniff(path)
    if kind is None or kind.key in expected:
        return ""
    return f"it looks like {kind.description}"


def _gunzip_head(head: bytes) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _HEAD)
    except zlib.error:
        return b""


def _sniff_bytes(head: bytes, path: Path) -> FileKind | None:
    for magic, key, description in _MAGIC:
        if head.startswith(magic):
            if key == "hdf5":
                description = _hdf5_description(path) or description
            return FileKind(key, description)
    if head.startswith(b"PK\x03\x04"):
        if b"data.pkl" in head[:4096]:
            return FileKind("torch", "a PyTorch checkpoint (torch.save)")
        return FileKind("zip", "a zip archive")
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return FileKind("pickle", "a Python pickle")
    if _is_safetensors(head, path):
        return FileKind("safetensors", "a safetensors file (model or SAE weights)")
    return _sniff_text(head)


def _hdf5_description(path: Path) -> str:
    try:
        import h5py

        with h5py.File(path, "r") as h5:
            kind = h5.attrs.get("encoding-type")
    except (OSError, ImportError):
        return ""
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind in _HDF5_KINDS:
        return f"an HDF5 file ({_HDF5_KINDS[kind]})"
    return f"an HDF5 file (encoding-type {kind!r})" if kind else ""


def _is_safetensors(head: bytes, path: Path) -> bool:
    if len(head) < 10 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    try:
        return 2 <= n <= path.stat().st_size - 8
    except OSError:
        return False


def _sniff_text(head: bytes) -> FileKind | None:
    if b"\x00" in head:
        return FileKind("binary", "binary data")
    lines = head.splitlines()
    if len(head) == _HEAD and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    first = next((line.strip() for line in lines if line.strip()), b"")
    if first.startswith(b"##gff-version"):
        return FileKind("gff3", "a GFF3 file")
    if first.startswith(b">"):
        return FileKind("fasta", "a FASTA file")
    if first.startswith(b"LOCUS"):
        return FileKind("genbank", "a GenBank file")
    if first.startswith(b"MEME version"):
        return FileKind("meme", "a MEME motif file")
    if first[:1] in (b"{", b"["):
        try:
            json.loads(head)
            return FileKind("json", "a JSON file")
        except ValueError:
            pass
    body = [line for line in lines if line.strip() and not line.startswith(b"#")]
    if body:
        fields = body[0].split(b"\t")
        numbers = [f.strip().isdigit() for f in fields]
        if len(fields) >= 9 and numbers[3] and numbers[4]:
            return FileKind("gff3", "a GFF file")
        if len(fields) >= 3 and numbers[1] and numbers[2]:
            return FileKind("bed", "a BED file")
        if first.startswith((b"track ", b"browser ")):
            return FileKind("bed", "a BED file")
        if _YAML_KEY.match(body[0]) and not first.startswith(b"\t"):
            return FileKind("yaml", "a YAML file")
    return None


def unreadable_hdf5(path: str | Path, err: Exception, what: str, fix: str) -> str:
    """The one-line message for an HDF5 file that h5py cannot open, ``what`` was expected.

    A file of another kind is named as such (a FASTA given as a store); an empty or
    truncated HDF5 file is called that, with h5py's reason.
    """
    path = Path(path)
    other = wrong_kind(path, "hdf5")
    if other:
        return f"{path}: not {what}: {other}. Fix: {fix}"
    if path.is_file() and path.stat().st_size == 0:
        return f"{path}: is empty, not {what}. Fix: {fix}"
    reason = " ".join(str(err).split())
    return f"{path}: not a readable HDF5 file (truncated or corrupt? {reason}). Fix: {fix}"
