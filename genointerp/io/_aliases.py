"""Contig-name aliases: ``chr1`` / ``1`` / ``NC_003070.9`` all naming one contig."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._filekind import wrong_kind
from .._textio import decode_line, iter_lines
from ..errors import ConfigError, ContigNameError


class ContigAliases:
    """Resolve the names other files use for a genome's contigs to the genome's own names.

    Resolution order: the exact name; an explicit alias (from a data-set manifest
    or a user table); a case-insensitive match, which includes an accession
    without its version (``NC_000913`` for ``NC_000913.3``; another version such
    as ``NC_000913.2`` never matches); the name with a ``chr`` prefix added or
    removed.  The implicit rules only apply when they give a single contig.

    Examples
    --------
    >>> aliases = ContigAliases(["NC_000913.3"], {"NC_000913.3": ["U00096.3", "chr"]})
    >>> aliases.resolve("U00096.3"), aliases.resolve("nc_000913")
    ('NC_000913.3', 'NC_000913.3')
    """

    def __init__(
        self, contigs: Iterable[str], aliases: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.contigs: tuple[str, ...] = tuple(contigs)
        self._explicit: dict[str, str] = {}
        for canonical, names in (aliases or {}).items():
            if canonical not in self.contigs:
                continue  # aliases for contigs this genome lacks (e.g. a subset) are harmless
            for alias in names:
                self._explicit[str(alias)] = canonical
        self._implicit = self._implicit_table()

    def _implicit_table(self) -> dict[str, str]:
        candidates: dict[str, set[str]] = {}
        for name in self.contigs:
            keys = {name.lower(), name.split(".")[0].lower()}
            low = name.lower()
            keys.add(low[3:] if low.startswith("chr") else "chr" + low)
            for key in keys:
                candidates.setdefault(key, set()).add(name)
        return {key: next(iter(v)) for key, v in candidates.items() if len(v) == 1}

    def resolve(self, name: str) -> str:
        """The genome's name for ``name``; raises :class:`ContigNameError` when none matches."""
        found = self.get(name)
        if found is None:
            shown = ", ".join(self.contigs[:8]) + (" ..." if len(self.contigs) > 8 else "")
            close = difflib.get_close_matches(name, self.contigs, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ContigNameError(
                f"contig {name!r} is not in the genome{hint}; its contigs are {shown}",
                "use the genome's contig names, or add an alias (the data set manifest's "
                "'aliases', or an alias table: two tab-separated columns, alias then contig)",
            )
        return found

    def get(self, name: str) -> str | None:
        """Like :meth:`resolve` but returns None when nothing matches."""
        if name in self.contigs:
            return name
        if name in self._explicit:
            return self._explicit[name]
        low = name.lower()
        for key in (low, low[3:] if low.startswith("chr") else "chr" + low):
            if key in self._implicit:
                return self._implicit[key]
        return None

    def with_aliases(self, aliases: Mapping[str, Iterable[str]]) -> ContigAliases:
        """A copy with more explicit aliases."""
        merged: dict[str, list[str]] = {}
        for alias, canonical in self._explicit.items():
            merged.setdefault(canonical, []).append(alias)
        for canonical, names in aliases.items():
            merged.setdefault(canonical, []).extend(names)
        return ContigAliases(self.contigs, merged)


def read_alias_table(path: str | Path) -> dict[str, list[str]]:
    """Read a two-column tab-separated alias table (``alias<TAB>contig``; ``#`` comments).

    Returns ``{contig: [aliases]}``, the shape :class:`ContigAliases` takes.
    """
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        return {}
    other = wrong_kind(path, "bed")  # two tab-separated names look like nothing else
    if other:
        raise ConfigError(path, f"{other}, not an alias table", "write 'alias<TAB>contig' lines")
    table: dict[str, list[str]] = {}
    for lineno, raw in iter_lines(path, ConfigError, "alias table"):
        line = decode_line(raw, path, lineno, ConfigError, "alias table")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise ConfigError(
                path,
                f"alias table line has {len(fields)} tab-separated fields, expected 2",
                "write one 'alias<TAB>contig' pair per line",
                line=lineno,
            )
        alias, contig = (f.strip() for f in fields)
        table.setdefault(contig, []).append(alias)
    return table
