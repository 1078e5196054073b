"""Run annotators on a genome, caching each tool's GFF3 output by genome, version and settings."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import names
from .._cache import cache_root
from ..errors import GenomeFormatError
from ..io import Genome
from . import _prodigal, _programs, _rna, _tools
from ._gff import Row, empty_table, read_gff3, write_gff3

log = logging.getLogger(__name__)

ANNOTATORS = ("prodigal", "aragorn", "barrnap", "transtermhp", "pilercr")
FORMAT = 1  # bump when the rows written for the same tool output change, so caches rebuild
TRANSTERM_MIN_CONF = 76  # TransTermHP's default confidence cut-off
BARRNAP = {"evalue": 1e-6, "lencutoff": 0.8, "reject": 0.25}  # barrnap's defaults

_VERSIONS: dict[str, Callable[[], str]] = {
    "prodigal": _tools.prodigal_version,
    "aragorn": _tools.aragorn_version,
    "barrnap": _tools.barrnap_version,
    "transtermhp": _tools.transterm_version,
    "pilercr": _tools.pilercr_version,
}


def versions() -> dict[str, str | None]:
    """Each annotator's tool and version, or None where the tool is not installed.

    Examples
    --------
    >>> versions()["prodigal"]  # doctest: +SKIP
    'pyrodigal 3.7.1 (Prodigal 2.6.3)'
    """
    out: dict[str, str | None] = {}
    for name, version in _VERSIONS.items():
        try:
            out[name] = version()
        except (_tools.AnnotatorUnavailableError, ImportError):
            out[name] = None
    return out


def annotate(
    genome: Genome,
    tools: Sequence[str] | None = None,
    *,
    translation_table: int | Literal["auto"] = "auto",
    kingdom: Literal["bac", "arc"] = "bac",
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Annotate a genome from its sequence with the field's standard tools.

    Each tool's output is cached as GFF3 under ``<cache>/annotate/<genome checksum>/``
    (beside the packed genomes), keyed by the tool, its version and a digest of its
    settings, and read back through genointerp's GFF3 reader; the same genome and
    settings give byte-identical files.

    Parameters
    ----------
    genome
        The genome (every non-empty contig is annotated).
    tools
        Names from :data:`ANNOTATORS`; None runs every one whose tool is installed.
    translation_table
        Genetic code for Prodigal and ARAGORN. ``"auto"`` runs Prodigal under tables 11
        and 4 and keeps 4 only when its coding density is more than 5% above table 11's
        and at least 70% (CheckM's rule; Mycoplasma-like genomes); an int forces it.
    kingdom
        barrnap's models: ``"bac"`` (bacteria) or ``"arc"`` (archaea).
    cache_dir
        Folder for the cached outputs; default ``$GENOINTERP_CACHE/annotate``.
    progress
        Show a progress bar over the tools.

    Returns
    -------
    pandas.DataFrame
        An annotation table (``names.ANNOTATION_COLUMNS`` plus attribute columns) with
        ``Annotator`` set to the tool name on every row. Feature types: ``CDS`` and
        ``Shine_Dalgarno_sequence`` (prodigal), ``tRNA`` and ``tmRNA`` (aragorn), ``rRNA``
        (barrnap), ``terminator`` (transtermhp), ``CRISPR``, ``direct_repeat`` and
        ``CRISPR_spacer`` (pilercr).

    Examples
    --------
    >>> table = annotate(genome, ["aragorn"])  # doctest: +SKIP
    >>> table.Feature.value_counts()["tRNA"]  # doctest: +SKIP
    86
    """
    _check_genome(genome)
    chosen = _tools_to_run(tools)
    if kingdom not in ("bac", "arc"):
        raise ValueError(f"kingdom {kingdom!r} is not 'bac' or 'arc'")
    if translation_table != "auto" and not isinstance(translation_table, int):
        raise ValueError(f"translation_table {translation_table!r} is not 'auto' or an integer")
    run = _Run(genome, translation_table, kingdom, cache_dir)
    tables = [run.table(name) for name in tqdm(chosen, desc="annotators", disable=not progress)]
    tables = [t for t in tables if len(t)] or [empty_table().assign(**{names.ANNOTATOR: ""})]
    return pd.concat(tables, ignore_index=True)


def _check_genome(genome: Genome) -> None:
    if not any(np.any(genome.codes(name) != ord("N")) for name in genome.names):
        raise GenomeFormatError(
            genome.source or "<genome>",
            "holds no sequence to annotate (no contigs, or only N)",
            "give a genome with at least one contig of A, C, G and T",
        )


def _tools_to_run(tools: Sequence[str] | None) -> list[str]:
    if tools is None:
        found = versions()
        for name, version in found.items():
            if version is None:
                log.warning("annotator %s left out: its tool is not installed", name)
        return [name for name, version in found.items() if version is not None]
    unknown = [t for t in tools if t not in ANNOTATORS]
    if unknown:
        raise ValueError(f"unknown annotator(s) {unknown}: choose from {', '.join(ANNOTATORS)}")
    for name in tools:
        _VERSIONS[name]()  # a missing tool fails here, with the fix
    return list(dict.fromkeys(tools))


class _Run:
    """One genome's annotators with their settings; each tool's output cached once."""

    def __init__(self, genome: Genome, table, kingdom: str, cache_dir) -> None:
        self.genome = genome
        self.translation_table = table
        self.kingdom = kingdom
        root = Path(cache_dir) if cache_dir else cache_root() / "annotate"
        self.folder = root / genome.checksum[:16]

    def settings(self, tool: str) -> dict:
        """What the tool's output depends on, besides the genome and the tool's version."""
        if tool == "prodigal":
            mode = _prodigal.mode_for(self.genome)
            return {"translation_table": self.translation_table, "mode": mode}
        if tool == "aragorn":
            table = self.translation_table
            if table == "auto":  # the table Prodigal chose, with Prodigal's settings
                table = {"prodigal": self.key("prodigal")}
            return {"translation_table": table, "trna": True, "tmrna": True}
        if tool == "barrnap":
            return {"kingdom": self.kingdom, **BARRNAP}
        if tool == "transtermhp":
            return {"min_conf": TRANSTERM_MIN_CONF, "genes": {"prodigal": self.key("prodigal")}}
        return {"options": "defaults"}

    def key(self, tool: str) -> str:
        """``tool-version-digest``: the cache file's name without extension."""
        version = _VERSIONS[tool]()
        text = json.dumps([FORMAT, version, self.settings(tool)], sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        slug = "".join(c if c.isalnum() or c in ".-" else "_" for c in version)
        return f"{tool}-{slug}-{digest}"

    def path(self, tool: str) -> Path:
        """The tool's cached GFF3, made on first use."""
        path = self.folder / f"{self.key(tool)}.gff3"
        if not path.exists():
            rows, extra = self.rows(tool)
            header = {
                "tool": _VERSIONS[tool](),
                "settings": self.settings(tool),
                "genome_checksum": self.genome.checksum,
                **extra,
            }
            source = _VERSIONS[tool]().split(" (")[0].replace(" ", ":")
            write_gff3(path, rows, self.genome, annotator=tool, source=source, header=header)
            log.info("%s: %d features written to %s", tool, len(rows), path)
        return path

    def table(self, tool: str) -> pd.DataFrame:
        return read_gff3(self.path(tool), self.genome, tool)

    def chosen_table(self) -> int:
        """The translation table: given, or the one Prodigal's run chose (read from its file)."""
        if self.translation_table != "auto":
            return int(self.translation_table)
        for line in self.path("prodigal").read_text().splitlines():
            if line.startswith("# translation_table: "):
                return int(json.loads(line.split(": ", 1)[1])["chosen"])
            if not line.startswith("#"):
                break
        raise RuntimeError("prodigal's cached output has no translation_table header line")

    def rows(self, tool: str) -> tuple[list[Row], dict]:
        genome = self.genome
        if tool == "prodigal":
            prediction, how = _prodigal.choose(genome, self.translation_table)
            return _prodigal.rows(genome, prediction), {"translation_table": how}
        if tool == "aragorn":
            table = self.chosen_table()
            return _rna.aragorn_rows(genome, table), {"translation_table": table}
        if tool == "barrnap":
            return _rna.barrnap_rows(genome, self.kingdom, BARRNAP), {}
        if tool == "transtermhp":
            genes = self.table("prodigal")
            return _programs.transterm_rows(genome, genes, TRANSTERM_MIN_CONF), {}
        return _programs.pilercr_rows(genome), {}
