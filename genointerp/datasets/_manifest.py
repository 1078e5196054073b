"""Data-set manifests: YAML files in ``data_manifests/`` describing public data sets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .._config import from_dict, load_yaml
from .._resources import shipped_dir
from ..errors import ConfigError, DatasetError
from ..names import DATASET_KINDS, FILE_FORMATS

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class ContigSpec:
    """One contig of a genome data set."""

    length: int
    """Length in base pairs."""
    aliases: list[str] = field(default_factory=list)
    """Other names for this contig in other files (``chr1``, an accession without version...)."""
    circular: bool = False
    """Whether the molecule is circular (flanking windows then wrap around its origin)."""


@dataclass
class FileSpec:
    """One file of a data set."""

    name: str
    """File name in the cache and in the mirror folder."""
    mirror_path: str
    """Path relative to the mirror root (``$GENOINTERP_DATA_MIRROR``)."""
    format: str
    """One of fasta, gff3, genbank, bed, tsv, csv, meme, transfac, text."""
    sha256: str
    """sha256 of the file as distributed here (the mirror copy)."""
    url: str | None = None
    """Public source of this content; None for derived or curated files."""
    decoded_md5: str | None = None
    """md5 of the decompressed bytes: accepts a copy compressed differently."""
    sequence_md5: dict[str, str] | None = None
    """md5 of each record's upper-case sequence, for FASTA and GenBank files."""
    keep_sources: list[str] | None = None
    """GFF3 only: keep lines whose column 2 is one of these."""
    derived_from: str | None = None
    """How a derived file was made, and from what."""
    note: str | None = None
    """Anything a user should know about the file."""

    def __post_init__(self) -> None:
        if self.format not in FILE_FORMATS:
            raise ValueError(f"format {self.format!r} is not one of {', '.join(FILE_FORMATS)}")
        if not _HEX64.match(self.sha256):
            raise ValueError(f"sha256 of {self.name} is not 64 lower-case hex digits")
        if self.decoded_md5 is not None and not _HEX32.match(self.decoded_md5):
            raise ValueError(f"decoded_md5 of {self.name} is not 32 lower-case hex digits")


@dataclass
class Manifest:
    """A public data set: where its files come from, how to check them, and how to use them."""

    name: str
    """Short name used on the command line (equals the manifest's file stem)."""
    title: str
    """One-line description."""
    kind: str
    """prokaryote, archaeon, eukaryote, motifs or table."""
    licence: str
    """Licence or terms of use."""
    citation: str
    """What to cite when using the data."""
    files: list[FileSpec]
    """Files of the data set."""
    organism: str | None = None
    """Organism name, for genome data sets."""
    taxon_id: int | None = None
    """NCBI taxonomy id."""
    accession: str | None = None
    """Assembly or record accession(s)."""
    catalog: str | None = None
    """Default concept catalog (``prokaryote``, ``eukaryote``) for this genome."""
    genome: str | None = None
    """Name of the file (in ``files``) that holds the sequence."""
    annotations: list[str] = field(default_factory=list)
    """Files loaded together as the default annotation set."""
    contigs: dict[str, ContigSpec] = field(default_factory=dict)
    """Contigs with their lengths, aliases and topology."""

    def __post_init__(self) -> None:
        if self.kind not in DATASET_KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(DATASET_KINDS)}")
        self.contigs = {
            k: v if isinstance(v, ContigSpec) else ContigSpec(**v) for k, v in self.contigs.items()
        }
        known = {f.name for f in self.files}
        for ref in [self.genome, *self.annotations]:
            if ref is not None and ref not in known:
                raise ValueError(f"{ref!r} is not one of the files listed under 'files'")

    def file(self, name: str) -> FileSpec:
        """The file spec called ``name``."""
        for spec in self.files:
            if spec.name == name:
                return spec
        raise DatasetError(
            f"data set {self.name!r} has no file {name!r}; its files are "
            f"{', '.join(f.name for f in self.files)}"
        )

    @property
    def aliases(self) -> dict[str, list[str]]:
        """``{contig: [aliases]}`` for :class:`~genointerp.io.ContigAliases`."""
        return {name: list(spec.aliases) for name, spec in self.contigs.items()}


def manifest_dirs() -> list[Path]:
    """Folders searched for manifests: ``$GENOINTERP_MANIFESTS`` (``:``-separated), built-in."""
    import os

    extra = [Path(p) for p in os.environ.get("GENOINTERP_MANIFESTS", "").split(os.pathsep) if p]
    return [*extra, shipped_dir("data_manifests")]


def read_manifest(path: str | Path) -> Manifest:
    """Load and validate one manifest file."""
    path = Path(path)
    manifest = from_dict(Manifest, load_yaml(path), path, "manifest")
    if manifest.name != path.stem:
        raise ConfigError(
            path,
            f"manifest name {manifest.name!r} differs from its file name",
            f"set 'name: {path.stem}' or rename the file",
        )
    return manifest


def list_manifests() -> dict[str, Path]:
    """``{name: manifest path}`` for every manifest found (earlier folders win)."""
    found: dict[str, Path] = {}
    for folder in manifest_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return found


def get_manifest(name: str | Path) -> Manifest:
    """The manifest of data set ``name`` (or a path to a manifest file)."""
    if str(name).endswith((".yaml", ".yml")):
        return read_manifest(name)
    available = list_manifests()
    if name not in available and ("/" in str(name) or Path(str(name)).suffix):
        raise DatasetError(  # a genome given by a path that does not exist
            f"{name}: no such file (nor a data set of that name). Fix: check the path, or see "
            "`genointerp data list` for the data set names"
        )
    if name not in available:
        import difflib

        close = difflib.get_close_matches(str(name), available, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DatasetError(
            f"no data set called {name!r}. Fix: {hint}`genointerp data list` shows the "
            f"{len(available)} known data sets; add your own with a manifest in "
            "$GENOINTERP_MANIFESTS"
        )
    return read_manifest(available[name])
