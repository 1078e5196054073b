"""Contig names as the user's genome browser expects them, applied to every exported file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._atomic import atomic_open
from ..errors import GenointerpError
from ._options import NAMING_STYLES, NamingStyle

# INSDC (GenBank / ENA / DDBJ) nucleotide accessions: 1-2 letters + 5-6 digits (U00096.3,
# CP009273.1), or a WGS / TSA project: 4-6 letters + 8-10 digits.  RefSeq's NC_ is not INSDC.
_INSDC = re.compile(r"^(?:[A-Z]{1,2}\d{5,6}|[A-Z]{4,6}\d{8,10})(?:\.\d+)?$")


@dataclass
class ContigNames:
    """The browser name of each contig of a genome, and the aliases it is also known by.

    Attributes
    ----------
    names
        ``{genome name: browser name}``, in genome order; every exported file uses the
        browser names.
    lengths
        ``{genome name: length}``.
    aliases
        ``{genome name: [other names]}`` (from the data set's manifest), for
        ``chromAlias.txt``.

    Examples
    --------
    >>> n = ContigNames.choose({"NC_000913.3": 4641652}, {"NC_000913.3": ["U00096.3"]}, "accession")
    >>> n.names, n.browser("NC_000913.3")
    ({'NC_000913.3': 'U00096.3'}, 'U00096.3')
    """

    names: dict[str, str]
    lengths: dict[str, int]
    aliases: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def choose(
        cls,
        lengths: Mapping[str, int],
        aliases: Mapping[str, Iterable[str]] | None = None,
        style: NamingStyle | Mapping[str, str] | str | Path = "genome",
    ) -> ContigNames:
        """Browser names for ``lengths``' contigs.

        Parameters
        ----------
        lengths
            ``{genome name: length}`` in genome order.
        aliases
            ``{genome name: [aliases]}``, e.g. ``RunDir.contig_aliases()``.
        style
            ``"genome"`` (the genome's own names), ``"chr"`` (UCSC style: the first alias
            starting with ``chr``, else ``"chr" + name``), ``"accession"`` (the first alias
            that looks like an INSDC accession, else the name), a dict ``{genome name:
            browser name}`` (contigs it leaves out keep their names) or the path of a
            two-column alias table (``browser name<TAB>genome name``).
        """
        aliases = {c: [str(a) for a in v] for c, v in (aliases or {}).items()}
        lengths = {str(c): int(n) for c, n in lengths.items()}
        if isinstance(style, Mapping):
            table = {str(k): str(v) for k, v in style.items()}
            _check_known(table, lengths, "the contig_names dict")
            chosen = {c: table.get(c, c) for c in lengths}
        elif isinstance(style, Path) or (isinstance(style, str) and style not in NAMING_STYLES):
            chosen = _from_table(Path(style), lengths, aliases)
        else:
            pick = {"genome": lambda c, a: c, "chr": _chr_name, "accession": _accession}[style]
            chosen = {c: pick(c, aliases.get(c, [])) for c in lengths}
        _check_unique(chosen, style)
        return cls(chosen, lengths, aliases)

    def browser(self, contig: str) -> str:
        """The browser name of genome contig ``contig``."""
        return self.names[contig]

    @property
    def sizes(self) -> dict[str, int]:
        """``{browser name: length}`` in genome order (what bigWig / bigBed writers take)."""
        return {self.names[c]: n for c, n in self.lengths.items()}

    def write_chrom_sizes(self, path: str | Path) -> Path:
        """``chrom.sizes``: ``browser name<TAB>length``, one line per contig (atomically)."""
        with atomic_open(path) as out:
            for name, length in self.sizes.items():
                out.write(f"{name}\t{length}\n")
        return Path(path)

    def write_chrom_alias(self, path: str | Path) -> Path:
        """``chromAlias.txt`` (UCSC layout): a ``# browser genome alias...`` header, then the
        browser name first and every other known name after it, tab-separated."""
        rows = []
        for contig, browser in self.names.items():
            others = [contig, *self.aliases.get(contig, [])]
            rows.append([browser, *dict.fromkeys(o for o in others if o != browser)])
        width = max((len(r) for r in rows), default=1)
        header = ["browser", "genome"] + [f"alias{i}" for i in range(1, width - 1)]
        with atomic_open(path) as out:
            out.write("# " + "\t".join(header[:width]) + "\n")
            for row in rows:
                out.write("\t".join(row + [""] * (width - len(row))) + "\n")
        return Path(path)


def _chr_name(contig: str, aliases: list[str]) -> str:
    if contig.startswith("chr"):
        return contig
    return next((a for a in aliases if a.startswith("chr")), "chr" + contig)


def _accession(contig: str, aliases: list[str]) -> str:
    return next((a for a in [contig, *aliases] if _INSDC.match(a)), contig)


def _from_table(path: Path, lengths: dict[str, int], aliases) -> dict[str, str]:
    from ..io import ContigAliases, read_alias_table

    if not path.is_file():
        raise GenointerpError(
            f"contig_names {str(path)!r} is neither one of {', '.join(NAMING_STYLES)} nor an "
            "existing alias table. Fix: pass one of those styles, or the path of a two-column "
            "TSV (browser name<TAB>genome contig)"
        )
    resolve = ContigAliases(lengths, aliases)
    chosen = dict(zip(lengths, lengths, strict=True))
    for contig, names in read_alias_table(path).items():
        genome_name = resolve.get(contig)
        if genome_name is None:
            raise GenointerpError(
                f"{path}: contig {contig!r} (second column) is not in the genome "
                f"({', '.join(list(lengths)[:5])}...). Fix: name the genome's contigs there"
            )
        chosen[genome_name] = names[0]
    return chosen


def _check_known(table: dict[str, str], lengths: dict[str, int], where: str) -> None:
    unknown = [c for c in table if c not in lengths]
    if unknown:
        raise GenointerpError(
            f"{where} names contigs the genome lacks: {', '.join(unknown[:5])}. Fix: use the "
            f"genome's names as keys ({', '.join(list(lengths)[:5])})"
        )


def _check_unique(chosen: dict[str, str], style) -> None:
    seen: dict[str, str] = {}
    for contig, name in chosen.items():
        if not name or any(ch.isspace() for ch in name):
            raise GenointerpError(
                f"contig {contig!r} would be named {name!r} in the browser files (style "
                f"{style!r}); names must be non-empty without spaces. Fix: choose another style"
            )
        if name in seen:
            raise GenointerpError(
                f"contigs {seen[name]!r} and {contig!r} would both be named {name!r} in the "
                f"browser files (style {style!r}). Fix: pass contig_names='genome' or a table"
            )
        seen[name] = contig
