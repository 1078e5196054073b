"""A data set as users see it: its genome, its annotations and its files."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyranges as pr

from ..errors import DatasetError
from ..io import Genome
from ..io._read import annotation_table
from ..io._table import to_pyranges
from ._fetch import fetch_file
from ._manifest import Manifest, get_manifest

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """A data set described by a manifest; files are fetched on first use.

    Examples
    --------
    >>> ds = load("ecoli_k12")            # doctest: +SKIP
    >>> ds.genome().lengths               # doctest: +SKIP
    {'NC_000913.3': 4641652}
    """

    manifest: Manifest
    progress: bool = False

    @property
    def name(self) -> str:
        return self.manifest.name

    def path(self, file: str | None = None) -> Path:
        """Local path of ``file`` (default: the genome file), fetching it if needed."""
        name = file or self.manifest.genome
        if name is None:
            raise ValueError(f"data set {self.name!r} has no genome file; name one of its files")
        return fetch_file(self.manifest, self.manifest.file(name), progress=self.progress)

    def fetch(self) -> dict[str, Path]:
        """Fetch every file; ``{file name: local path}``."""
        return {spec.name: self.path(spec.name) for spec in self.manifest.files}

    def genome(self) -> Genome:
        """The genome, with the manifest's contig aliases and topology."""
        spec = self.manifest.file(self.manifest.genome or "")
        genome = Genome.open(
            self.path(spec.name), format=spec.format, aliases=self.manifest.aliases
        )
        genome.set_circular(
            n for n, c in self.manifest.contigs.items() if c.circular and n in genome
        )
        return genome

    def annotation_table(
        self, genome: Genome | None = None, *, missing: Literal["error", "skip"] = "error"
    ) -> pd.DataFrame:
        """All default annotation files in one table (each file filtered by its ``keep_sources``).

        With ``missing="skip"``, a file that cannot be fetched (e.g. a derived file
        with no public URL and no mirror) is left out with a warning.
        """
        genome = genome or self.genome()
        tables = []
        for name in self.manifest.annotations:
            spec = self.manifest.file(name)
            try:
                path = self.path(name)
            except DatasetError as exc:
                if missing == "error":
                    raise
                log.warning("leaving out %s: %s", name, exc)
                continue
            tables.append(
                annotation_table(path, genome, format=spec.format, keep_sources=spec.keep_sources)
            )
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

    def annotations(self, genome: Genome | None = None) -> pr.PyRanges:
        """The default annotation set as pyranges."""
        return to_pyranges(self.annotation_table(genome))


def load(name: str | Path, *, progress: bool = False) -> Dataset:
    """The data set called ``name`` (see ``genointerp data list``) or a manifest path."""
    return Dataset(get_manifest(name), progress=progress)


def motif_file(spec: str | Path | None) -> Path | None:
    """A MEME motif file: ``spec`` itself when it is a file, else the MEME file of the data set
    it names (JASPAR's non-redundant file for ``jaspar2024_core``); ``None`` for an empty
    ``spec``, or, with a warning, when the data set's file cannot be fetched (ranking without
    motif matches is still useful)."""
    if not spec:
        return None
    if Path(spec).is_file():
        return Path(spec)
    dataset = load(spec)
    memes = [f.name for f in dataset.manifest.files if ".meme" in f.name]
    if not memes:
        raise DatasetError(f"data set {spec!r} has no MEME motif file. Fix: name a motif data set")
    preferred = [m for m in memes if "non-redundant" in m]
    try:
        return dataset.path((preferred or memes)[0])
    except DatasetError as err:
        log.warning("motifs %s unavailable (%s); ranking without motif matches", spec, err)
        return None
