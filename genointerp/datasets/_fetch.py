"""Fetch data-set files into the cache, from a mirror folder or their URL, and verify them."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .._atomic import atomic_path
from .._cache import cache_subdir
from ..errors import ChecksumError, DatasetError
from ..names import ENV_MIRROR, ENV_OFFLINE
from ._manifest import FileSpec, Manifest

log = logging.getLogger(__name__)
_BLOCK = 1 << 20


def cached_path(manifest: Manifest, spec: FileSpec) -> Path:
    """Where ``spec`` lives in the cache (whether or not it is there yet)."""
    return cache_subdir("data", manifest.name) / spec.name


def fetch_file(
    manifest: Manifest, spec: FileSpec, *, force: bool = False, progress: bool = False
) -> Path:
    """Return the verified cached copy of ``spec``, fetching it first if needed.

    The file is copied from ``$GENOINTERP_DATA_MIRROR`` when that folder has it;
    otherwise it is downloaded from ``spec.url``, unless ``$GENOINTERP_OFFLINE``
    is set (then a missing file is an error).  The copy is verified against the
    manifest's sha256 (or, for a public copy compressed differently, its decoded
    checksums) before it is renamed into place, so the cache never holds a
    partial or wrong file.
    """
    dest = cached_path(manifest, spec)
    if dest.exists() and not force and _marker_ok(dest, spec):
        return dest
    if dest.exists() and not _marker_ok(dest, spec):  # changed since it was verified
        dest.unlink()
        _marker(dest).unlink(missing_ok=True)
    with atomic_path(dest) as tmp:
        origin = _copy_from_source(manifest, spec, tmp, progress)
        digest = verify(tmp, spec, origin)
    _write_marker(dest, spec, digest)
    log.info("fetched %s/%s from %s", manifest.name, spec.name, origin)
    return dest


def _copy_from_source(manifest: Manifest, spec: FileSpec, tmp: Path, progress: bool) -> str:
    """Copy from the mirror when it has the file, else download (unless offline)."""
    label = f"{manifest.name}/{spec.name}"
    mirror = os.environ.get(ENV_MIRROR)
    source = Path(mirror).expanduser() / spec.mirror_path if mirror else None
    if source is not None and source.is_file():
        _copy(source, tmp, progress, spec.name)
        return str(source)
    where = (
        f"the mirror {mirror} ({ENV_MIRROR}) has no {spec.mirror_path}"
        if mirror
        else f"{ENV_MIRROR} is not set"
    )
    if spec.url is None:
        raise DatasetError(
            f"{label}: {where}, and the file has no public URL (derived file: "
            f"{spec.derived_from or 'see its manifest'}). Fix: set {ENV_MIRROR} to a folder "
            f"holding {spec.mirror_path}"
        )
    if os.environ.get(ENV_OFFLINE):
        raise DatasetError(
            f"{label}: {where}, and {ENV_OFFLINE} forbids downloading it from {spec.url}. "
            f"Fix: set {ENV_MIRROR} to a folder holding {spec.mirror_path}, or unset "
            f"{ENV_OFFLINE} on a machine with internet access"
        )
    if mirror:
        log.warning("%s: %s; downloading from %s", label, where, spec.url)
    _download(spec.url, tmp, progress, spec.name)
    return spec.url


def _copy(source: Path, tmp: Path, progress: bool, label: str) -> None:
    with (
        open(source, "rb") as src,
        open(tmp, "wb") as dst,
        _bar(source.stat().st_size, label, progress) as bar,
    ):
        while block := src.read(_BLOCK):
            dst.write(block)
            bar.update(len(block))


def _download(url: str, tmp: Path, progress: bool, label: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as dst:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _bar(total, label, progress) as bar:
                while block := response.read(_BLOCK):
                    dst.write(block)
                    bar.update(len(block))
    except OSError as exc:
        raise DatasetError(
            f"{label}: download from {url} failed ({exc}). Fix: check the network, or set "
            f"{ENV_MIRROR} to a folder holding the file"
        ) from exc


def _bar(total: int | None, label: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, disable=not progress)


def sha256_file(path: str | Path) -> str:
    """sha256 hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec: FileSpec, origin: str) -> str:
    """Check ``path`` against the manifest; return its sha256 or raise :class:`ChecksumError`."""
    digest = sha256_file(path)
    if digest == spec.sha256:
        return digest
    if spec.decoded_md5 and _decoded_md5(path) == spec.decoded_md5:
        log.info("%s: bytes differ from the manifest but decoded content matches", spec.name)
        return digest
    if spec.sequence_md5 and _sequence_md5(path, spec.format) == spec.sequence_md5:
        log.info("%s: file differs from the manifest but every sequence matches", spec.name)
        return digest
    raise ChecksumError(
        f"{spec.name} from {origin}: sha256 is {digest} but the manifest records {spec.sha256}. "
        "Fix: the source copy is corrupt or a different version; fetch it again "
        "(`genointerp data fetch NAME --force`) or update the manifest if the data set changed"
    )


def _decoded_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    except (OSError, EOFError):
        return ""
    return digest.hexdigest()


def _sequence_md5(path: Path, fmt: str) -> dict[str, str] | None:
    """md5 of each record's sequence (a public copy may be re-compressed or re-annotated)."""
    import tempfile

    from ..errors import GenomeFormatError
    from ..io import Genome

    with tempfile.TemporaryDirectory() as scratch:
        try:
            return Genome.open(path, format=fmt, cache_dir=scratch).sequence_md5
        except GenomeFormatError:
            return None


def _marker(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.verified.json")


def _write_marker(dest: Path, spec: FileSpec, digest: str) -> None:
    stat = dest.stat()
    record = {
        "manifest_sha256": spec.sha256,
        "sha256": digest,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    with atomic_path(_marker(dest)) as tmp:
        tmp.write_text(json.dumps(record))


def _marker_ok(dest: Path, spec: FileSpec) -> bool:
    try:
        record = json.loads(_marker(dest).read_text())
    except (OSError, ValueError):
        return False
    stat = dest.stat()
    return (
        record.get("manifest_sha256") == spec.sha256
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def clear_cached(manifest: Manifest) -> None:
    """Delete a data set's cached files."""
    shutil.rmtree(cache_subdir("data", manifest.name), ignore_errors=True)
