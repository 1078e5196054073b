"""Concept catalogs: YAML that says how each concept track derives from annotation rows."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._config import from_dict, load_yaml
from .._resources import shipped_dir
from ..errors import ConfigError
from ._motif import MotifSpec

Anchor = Literal["5prime", "3prime"]
StepOp = Literal["spliced", "flank", "introns", "codon_position", "complement", "merge", "span"]
ElementKey = Literal["ID", "Parent", "row"]


@dataclass
class Select:
    """Which annotation rows feed a concept; a concept's selects are alternatives (OR)."""

    feature: list[str] = field(default_factory=list)
    """Feature types to take (GFF3 column 3, GenBank feature key); empty means any."""
    source: list[str] = field(default_factory=list)
    """GFF3 column-2 values to take; empty means any."""
    where: dict[str, str] = field(default_factory=dict)
    """``column: regex`` that must all match (regex search; a missing value never matches)."""
    exclude: dict[str, str] = field(default_factory=dict)
    """``column: regex``; a row matching any is dropped (``""`` drops rows that have the column)."""
    origin: list[str] = field(default_factory=list)
    """Where rows come from: ``curated`` (annotation files) or an annotator's name
    (``prodigal``, ``aragorn``, ``barrnap``, ``transtermhp``, ``pilercr``); empty means any."""

    def __post_init__(self) -> None:
        for pattern in [*self.where.values(), *self.exclude.values()]:
            re.compile(str(pattern))


@dataclass
class Step:
    """One transformation of a concept's elements, applied in order."""

    op: StepOp
    """spliced | flank | introns | codon_position | complement | merge | span."""
    anchor: Anchor = "5prime"
    """For spliced/flank: offsets count from the element's 5' start (0 = first nt) or from its
    3' end (0 = first nt after the element); offsets grow downstream on the element's strand."""
    start: int = 0
    """First offset of the window (inclusive)."""
    end: int = 0
    """Last offset of the window (exclusive)."""
    position: int = 0
    """For codon_position: 0, 1 or 2 (first, second, third nucleotide of each codon)."""
    gap: int = 0
    """For merge: join elements at most this many bp apart (0 joins overlapping and touching)."""

    def __post_init__(self) -> None:
        if self.op in ("spliced", "flank") and self.end <= self.start:
            raise ValueError(f"{self.op} window needs end > start, got {self.start}..{self.end}")
        if self.position not in (0, 1, 2):
            raise ValueError(f"codon position must be 0, 1 or 2, got {self.position}")


@dataclass
class ConceptSpec:
    """One concept: its rows, how they group into elements, and how they are transformed."""

    name: str
    """Short identifier (letters, digits, underscores)."""
    label: str
    """Human-readable name shown in reports."""
    select: list[Select] = field(default_factory=list)
    """Annotation rows to start from (alternatives, OR); empty for a motif concept."""
    stranded: bool = True
    """Stranded concepts score against the same-strand model pass; unstranded against both."""
    element: ElementKey = "ID"
    """Column grouping rows into one element (``ID``: a feature on several lines; ``Parent``:
    e.g. the exons of a transcript; ``row``: every row its own element)."""
    steps: list[Step] = field(default_factory=list)
    """Transformations applied in order."""
    group: str = "other"
    """Family used to order and colour reports (genes, RNA, repeats, regulatory, ...)."""
    color: str = "0,0,0"
    """BED itemRgb colour, ``r,g,b``."""
    description: str = ""
    """What the concept is and how it is derived."""
    annotators: list[str] = field(default_factory=list)
    """Annotators (:mod:`genointerp.annotate`) to run for this concept's rows; their rows
    join the curated ones, so the concept exists on a genome with no annotation file."""
    motif: MotifSpec | None = None
    """A sequence motif scanned on the genome, instead of annotation rows."""

    def __post_init__(self) -> None:
        if bool(self.select) == (self.motif is not None):
            raise ValueError(f"concept {self.name} needs either 'select' or 'motif' (not both)")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", self.name):
            raise ValueError(f"concept name {self.name!r} must be letters, digits and underscores")
        if not re.fullmatch(r"\d{1,3},\d{1,3},\d{1,3}", self.color):
            raise ValueError(f"color {self.color!r} of {self.name} must be 'r,g,b'")


@dataclass
class Catalog:
    """A named list of concepts."""

    catalog: str
    """Catalog name."""
    description: str = ""
    """What the catalog is for."""
    include: list[str] = field(default_factory=list)
    """Other catalogs whose concepts come first."""
    concepts: list[ConceptSpec] = field(default_factory=list)
    """The concepts."""
    sha256: str = ""
    """Checksum of the catalog file(s); filled in when loaded."""

    def __post_init__(self) -> None:
        seen = set()
        for concept in self.concepts:
            if concept.name in seen:
                raise ValueError(f"concept {concept.name!r} is defined twice")
            seen.add(concept.name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.concepts]

    def __getitem__(self, name: str) -> ConceptSpec:
        for concept in self.concepts:
            if concept.name == name:
                return concept
        raise KeyError(f"catalog {self.catalog!r} has no concept {name!r}; it has {self.names}")

    def subset(self, names: list[str]) -> Catalog:
        """A catalog with only the named concepts (in the given order)."""
        return Catalog(self.catalog, self.description, [], [self[n] for n in names], self.sha256)


def catalog_dir() -> Path:
    """The folder of built-in catalogs (``annotations/`` in the repository)."""
    return shipped_dir("annotations")


def list_catalogs() -> dict[str, Path]:
    """``{name: path}`` of the built-in catalogs."""
    return {p.stem: p for p in sorted(catalog_dir().glob("*.yaml"))}


def load_catalog(name_or_path: str | Path, _seen: tuple[str, ...] = ()) -> Catalog:
    """Load a built-in catalog by name or any catalog file by path, resolving ``include``."""
    path = Path(name_or_path)
    if not path.suffix:
        available = list_catalogs()
        if str(name_or_path) not in available:
            raise ConfigError(
                path,
                "no such concept catalog",
                f"use one of {', '.join(available)} or a path to a YAML catalog",
            )
        path = available[str(name_or_path)]
    if str(path) in _seen:
        raise ConfigError(path, "catalog includes itself", "remove the circular include")
    catalog = from_dict(Catalog, load_yaml(path), path, "catalog")
    digest = hashlib.sha256(path.read_bytes())
    concepts: list[ConceptSpec] = []
    for included in catalog.include:
        relative = path.parent / included  # a path is relative to the including catalog
        other = load_catalog(relative if Path(included).suffix else included, (*_seen, str(path)))
        digest.update(other.sha256.encode())
        concepts.extend(other.concepts)
    seen: set[str] = set()
    for concept in [*concepts, *catalog.concepts]:
        if concept.name in seen:
            raise ConfigError(
                path,
                f"concept {concept.name!r} is defined twice (here or in an included catalog)",
                "rename one of them",
            )
        seen.add(concept.name)
    catalog.concepts = concepts + catalog.concepts
    catalog.sha256 = digest.hexdigest()
    return catalog
