"""Annotation dialects: Sequence Ontology types, their synonyms, and hints for empty concepts.

Annotation files name the same thing in different ways: NCBI writes ``tRNA``, Ensembl Bacteria
``tRNA_gene`` (with a ``transcript`` child carrying ``biotype=tRNA``), Bakta ``crispr-repeat``,
older files ``transfer_RNA`` or ``SO:0000253``.  The table below maps every spelling to one
canonical type, the name the catalogs use, so a catalog lists canonical types and a ``Select``
takes every dialect's spelling (:func:`feature_mask`).  How it works:

- A row's Feature is looked up case-insensitively, with ``-`` and spaces read as ``_``; a
  synonym or SO accession becomes its canonical type.  Unknown types stay as written (and still
  match a select that names them the same way).
- Selecting a type also selects its narrower types (``rRNA`` takes ``rRNA_16S``, ``ncRNA`` takes
  ``snoRNA`` and ``tmRNA``).
- A gene-level type counts as the RNA it encodes (``tRNA_gene`` as ``tRNA``), and a generic
  container (``transcript``, ``ncRNA_gene``) as its ``biotype`` (Ensembl ``biotype=tRNA``), so
  ``feature: [tRNA]`` takes Ensembl's tRNA genes; naming the container (``feature:
  [ncRNA_gene]``) still takes all of its rows.  ``_derive`` then keeps one element per gene.

:func:`empty_concept_hint` says which rows look like an empty concept and how to select them.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import names
from ._catalog import ConceptSpec, Select


@dataclass(frozen=True)
class Term:
    """One canonical feature type."""

    name: str
    """The name catalogs use (SO term name where SO has one)."""
    accession: str = ""
    """Sequence Ontology accession, '' where SO has no such term."""
    synonyms: tuple[str, ...] = ()
    """Other spellings: SO synonyms, INSDC feature keys, annotators' own type names."""
    broader: str = ""
    """A broader type whose selection takes this one too (SO is_a)."""
    encodes: str = ""
    """For gene-level types: the type the gene stands for when selecting (tRNA_gene -> tRNA)."""


_AMINOACYL = (
    *("alanyl", "arginyl", "asparaginyl", "aspartyl", "cysteinyl", "glutaminyl", "glutamyl"),
    *("glycyl", "histidyl", "isoleucyl", "leucyl", "lysyl", "methionyl", "phenylalanyl"),
    *("prolyl", "seryl", "threonyl", "tryptophanyl", "tyrosyl", "valyl", "selenocysteinyl"),
    "pyrrolysyl",
)

# Sources: SO (so.obo names and accessions, as also listed in Bakta's bakta/so.py), INSDC feature
# table keys (GenBank), NCBI PGAP GFF3, Ensembl GFF3 dumps (README: 'ncRNA_gene' for RNA genes)
# and Ensembl's GFF3 loader type lists ('tRNA_gene', 'rRNA_gene', 'transcript'), Prokka
# (bin/prokka), Bakta (bakta/io/gff.py: 'crispr-repeat', 'crispr-spacer', 'ncRNA-region', 'oriC').
TERMS: tuple[Term, ...] = (
    # genes and their parts
    Term("gene", "SO:0000704"),
    Term("pseudogene", "SO:0000336"),
    Term("CDS", "SO:0000316", ("coding_sequence",)),
    Term("sORF", "", ("small_ORF",), broader="CDS"),  # Bakta's small ORFs
    Term("mRNA", "SO:0000234", ("messenger_RNA",)),
    Term("transcript", "SO:0000673"),
    Term("primary_transcript", "SO:0000185", ("precursor_RNA",)),
    Term("exon", "SO:0000147"),
    Term("five_prime_UTR", "SO:0000204", ("5'UTR", "five_prime_untranslated_region")),
    Term("three_prime_UTR", "SO:0000205", ("3'UTR", "three_prime_untranslated_region")),
    # RNA genes
    Term("tRNA", "SO:0000253", ("transfer_RNA", *(f"{a}_tRNA" for a in _AMINOACYL))),
    Term("tRNA_gene", "SO:0001272", encodes="tRNA"),
    Term("rRNA", "SO:0000252", ("ribosomal_RNA",)),
    Term(
        "rRNA_16S",
        "SO:0001000",
        ("16S_rRNA", "16S_ribosomal_RNA", "small_subunit_rRNA", "SSU_rRNA", "SO:0000650"),
        broader="rRNA",
    ),
    Term(
        "rRNA_23S",
        "SO:0001001",
        ("23S_rRNA", "23S_ribosomal_RNA", "large_subunit_rRNA", "LSU_rRNA", "SO:0000651"),
        broader="rRNA",
    ),
    Term("rRNA_5S", "SO:0000652", ("5S_rRNA", "5S_ribosomal_RNA"), broader="rRNA"),
    Term("rRNA_gene", "SO:0001637", encodes="rRNA"),
    Term("ncRNA", "SO:0000655", ("non_coding_RNA", "noncoding_RNA")),
    Term("ncRNA_gene", "SO:0001263", encodes="ncRNA"),
    Term("tmRNA", "SO:0000584", ("transfer_messenger_RNA",), broader="ncRNA"),
    Term("misc_RNA", ""),
    Term("sRNA", "", ("small_regulatory_ncRNA",), broader="ncRNA"),
    Term("antisense_RNA", "SO:0000644", ("asRNA",), broader="ncRNA"),
    Term("RNase_P_RNA", "SO:0000386", broader="ncRNA"),
    Term("SRP_RNA", "SO:0000590", ("4.5S_RNA",), broader="ncRNA"),
    Term("ribozyme", "SO:0000374", broader="ncRNA"),
    Term("snRNA", "SO:0000274", broader="ncRNA"),
    Term("snoRNA", "SO:0000275", broader="ncRNA"),
    Term("miRNA", "SO:0000276", broader="ncRNA"),
    Term("piRNA", "SO:0001035", broader="ncRNA"),
    Term("lnc_RNA", "SO:0001877", ("lncRNA", "lincRNA"), broader="ncRNA"),
    Term("circular_ncRNA", "", broader="ncRNA"),
    # repeats, CRISPR, mobile elements
    Term("repeat_region", "SO:0000657"),
    Term("direct_repeat", "SO:0000314"),
    Term("CRISPR", "SO:0001459", ("CRISPR_array",)),
    Term("CRISPR_repeat", "", ("crispr_repeat",)),  # Bakta 'crispr-repeat'
    Term("CRISPR_spacer", "", ("crispr_spacer",)),  # Bakta 'crispr-spacer'
    Term("mobile_genetic_element", "SO:0001037", ("mobile_element",)),
    Term("insertion_sequence", "SO:0000973"),
    Term("transposable_element", "SO:0000101"),
    Term("prophage", "", ("proviral_region", "SO:0000113")),
    # regulatory and replication
    Term("regulatory_region", "SO:0005836", ("regulatory", "ncRNA_region")),  # Bakta ncRNA-region
    Term("riboswitch", "SO:0000035", broader="regulatory_region"),
    Term("promoter", "SO:0000167"),
    Term(
        "terminator",
        "SO:0000141",
        ("rho_independent_bacterial_terminator", "rho_dependent_bacterial_terminator"),
    ),
    Term("TSS", "SO:0000315", ("transcription_start_site",)),
    Term("TF_binding_site", "SO:0000235", ("transcription_factor_binding_site",)),
    Term("ribosome_entry_site", "SO:0000139", ("ribosome_binding_site", "RBS")),
    Term(
        "Shine_Dalgarno_sequence",
        "SO:0000552",
        ("Shine_Dalgarno", "SD_sequence"),
        broader="ribosome_entry_site",
    ),
    Term("origin_of_replication", "SO:0000296", ("rep_origin", "oriC", "oriV")),
    Term("origin_of_transfer", "SO:0000724", ("oriT",)),
)

_BIOTYPE_COLUMNS = ("biotype", "transcript_biotype", "gene_biotype")
# generic containers whose type is given by an attribute (Ensembl biotype, INSDC regulatory_class)
_REFINED_BY = {
    "transcript": _BIOTYPE_COLUMNS,
    "primary_transcript": _BIOTYPE_COLUMNS,
    "ncRNA_gene": _BIOTYPE_COLUMNS,
    "regulatory_region": ("regulatory_class",),
}
_BIOTYPE_ALIASES = {"protein_coding": "mRNA"}


def _key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(text).strip()).lower()


def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for term in TERMS:
        for spelling in (term.name, term.accession, *term.synonyms):
            if spelling:
                index[_key(spelling)] = term.name
    return index


_CANONICAL = _index()
_TERM = {t.name: t for t in TERMS}


def canonical(feature: str) -> str:
    """The canonical type of a feature type spelled in any dialect (unknown: normalised as is).

    Examples
    --------
    >>> canonical("crispr-repeat"), canonical("SO:0000253"), canonical("16S rRNA")
    ('CRISPR_repeat', 'tRNA', 'rRNA_16S')
    """
    key = _key(feature)
    return _CANONICAL.get(key, key)


def narrower(types: Iterable[str]) -> set[str]:
    """Canonical names of ``types`` and of every type they take (their narrower types)."""
    wanted = {canonical(t) for t in types}
    grew = True
    while grew:
        more = {t.name for t in TERMS if t.broader in wanted} - wanted
        wanted |= more
        grew = bool(more)
    return wanted


def row_types(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per row: the canonical type of its Feature, and the type it stands for when selecting
    (a gene-level type's RNA; a container's biotype)."""
    feature = table[names.FEATURE].astype(str)
    direct = feature.map({f: canonical(f) for f in feature.unique()})
    stands = direct.map({c: (_TERM[c].encodes or c) if c in _TERM else c for c in direct.unique()})
    stands = stands.to_numpy(dtype=object)
    for container, columns in _REFINED_BY.items():
        at = np.flatnonzero((direct == container).to_numpy())
        for column in reversed(columns):  # the first column present wins
            if len(at) and column in table.columns:
                values = table[column].to_numpy()[at]
                known = pd.notna(values)
                stands[at[known]] = [_biotype(v) for v in values[known]]
    return direct, pd.Series(stands, index=table.index)


def _biotype(value) -> str:
    return canonical(_BIOTYPE_ALIASES.get(str(value), str(value)))


def feature_mask(table: pd.DataFrame, features: Iterable[str]) -> np.ndarray:
    """Rows whose type is one of ``features`` in any dialect (see the module docstring)."""
    wanted = narrower(features)
    direct, stands = row_types(table)
    return (direct.isin(wanted) | stands.isin(wanted)).to_numpy()


# attributes that say what a row is; searched for rows that look like an empty concept
_DESCRIPTIVE = (
    "biotype",
    "gene_biotype",
    "transcript_biotype",
    "product",
    names.NAME,
    "gene",
    "description",
    "ncRNA_class",
    "regulatory_class",
    "rpt_family",
    "note",
    "Note",
)
_PROTEIN = {"CDS", "sORF", "mRNA"}  # their products name proteins ('alanine--tRNA ligase')
# broad types that catalogs narrow with filters; a filter dropping them is usually right
_CONTAINERS = {
    *("gene", "transcript", "primary_transcript", "exon", "region", "repeat_region"),
    *("misc_feature", "sequence_feature", "CDS", "mRNA", "ncRNA", "misc_RNA"),
}
_EXAMPLES = 3


def empty_concept_hint(spec: ConceptSpec, table: pd.DataFrame) -> str:
    """Which rows look like an empty concept, and the select clause that would take them.

    Looks for rows of a selected type (in any dialect) that a ``where``, ``exclude``,
    ``source`` or ``origin`` filter dropped; types spelled nearly like a selected one; and rows
    whose product, biotype, Name (or similar attribute) names the concept's subject.

    Parameters
    ----------
    spec
        The concept that came out empty.
    table
        The annotation rows it was derived from.

    Returns
    -------
    str
        '' when nothing looks like the concept, else one or two sentences naming the rows
        (count, feature type, ``file:line`` examples) and a YAML select clause for them.

    Examples
    --------
    >>> import pandas as pd
    >>> from genointerp.concepts import ConceptSpec, Select
    >>> rows = pd.DataFrame({"Feature": ["gene"], "Source": ["x"], "ID": ["g1"], "Name": [""],
    ...                      "Parent": [""], "File": ["a.gff3"], "Line": [3],
    ...                      "product": ["tRNA-Ala"]})
    >>> trna = ConceptSpec("trna", "tRNA", select=[Select(feature=["tRNA"])])
    >>> print(empty_concept_hint(trna, rows))
    1 row typed gene has product matching 'tRNA' (a.gff3:3); select it with - {feature: [gene], where: {product: "^tRNA"}}.
    """  # noqa: E501
    if not spec.select or table is None or table.empty:
        return ""
    from ._derive import _matches

    if any(_matches(clause, table).any() for clause in spec.select):
        return ""  # rows matched; the steps emptied the concept
    found = [_filtered(spec, table), _misspelled(spec, table), _mentioned(spec, table)]
    return " ".join([f for f in found if f][:2])


def _filtered(spec: ConceptSpec, table: pd.DataFrame) -> str:
    """Rows of a selected type that the clause's filters dropped."""
    from ._derive import _matches, _outermost

    for clause in spec.select:
        if not clause.feature:
            continue
        rows = _outermost(table[feature_mask(table, clause.feature)])
        if rows.empty:
            continue
        for candidate, why in _rescues(clause, rows):
            took = rows[_matches(candidate, rows)]
            if len(took):
                said = f"{_rows(took)} {_verb(took, why)} ({_examples(took)})"
                return f"{said}; select {_them(took)} with {_yaml(candidate)}."
        failing = _failing(clause, rows)
        if failing and not narrower(clause.feature) <= _CONTAINERS:
            dropped = _verb(rows, "were dropped by")
            return f"{_rows(rows)} ({_examples(rows)}) {dropped} {failing}."
    return ""


def _verb(rows: pd.DataFrame, phrase: str) -> str:
    """``phrase`` (written for several rows) agreeing with the number of ``rows``."""
    if _count(rows) != 1:
        return phrase
    first, _, rest = phrase.partition(" ")
    single = {"were": "was", "have": "has", "come": "comes", "are": "is"}.get(first, first)
    return f"{single} {rest}".strip()


def _them(rows: pd.DataFrame) -> str:
    return "it" if _count(rows) == 1 else "them"


def _rescues(clause: Select, rows: pd.DataFrame):
    """Variants of ``clause`` that might take ``rows``, each with why the original did not."""
    if clause.source:
        theirs = sorted(set(rows[names.SOURCE].astype(str)))[:_EXAMPLES]
        why = f"come from source {_quoted(theirs)}, not {_quoted(clause.source)}"
        yield Select(clause.feature, [], clause.where, clause.exclude, clause.origin), why
    if clause.origin:
        why = f"are not of origin {_quoted(clause.origin)}"
        yield Select(clause.feature, clause.source, clause.where, clause.exclude), why
    for column, pattern in clause.where.items():
        if not pattern or column not in _DESCRIPTIVE:  # a presence flag, or a structural column
            continue
        for other in _DESCRIPTIVE:
            if other != column and other in rows.columns:
                where = {**clause.where, other: pattern}
                del where[column]
                why = f"have {other} (not {column}) matching '{pattern}'"
                moved = Select(clause.feature, clause.source, where, clause.exclude, clause.origin)
                yield moved, why


def _failing(clause: Select, rows: pd.DataFrame) -> str:
    """The filters of ``clause`` that drop rows, with the values the rows have."""
    from ._derive import _search

    said = []
    for column, pattern in clause.where.items():
        if pattern and not _search(rows, column, pattern).all():
            said.append(f"where {column}: '{pattern}' ({_values(rows, column)})")
    for column, pattern in clause.exclude.items():
        if _search(rows, column, pattern).any():
            said.append(f"exclude {column}: '{pattern}' ({_values(rows, column)})")
    if clause.source:
        said.append(f"source {_quoted(clause.source)} (theirs: {_values(rows, names.SOURCE)})")
    if clause.origin:
        said.append(f"origin {_quoted(clause.origin)}")
    return "; ".join(said)


def _squash(text: str) -> str:
    word = re.sub(r"[^a-z0-9]", "", str(text).lower())
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _misspelled(spec: ConceptSpec, table: pd.DataFrame) -> str:
    """Rows of an unknown type spelled nearly like a selected type ('t-RNA', 'CRISPR_spacers')."""
    typed = np.zeros(len(table), dtype=bool)
    spellings: dict[str, Select] = {}
    for clause in spec.select:
        if clause.feature:
            typed |= feature_mask(table, clause.feature)
        for name in narrower(clause.feature):
            term = _TERM.get(name)
            for spelling in (name, *(term.synonyms if term else ())):
                spellings.setdefault(_squash(spelling), clause)
    near: dict[str, Select] = {}
    for feature in table.loc[~typed, names.FEATURE].astype(str).unique():
        if canonical(feature) in _TERM:  # a known type of its own, not a misspelling
            continue
        word = _squash(feature)
        close = difflib.get_close_matches(word, spellings, 1, 0.9) if len(word) >= 7 else []
        if word in spellings or close:
            near[feature] = spellings[word if word in spellings else close[0]]
    if not near:
        return ""
    from ._derive import _outermost

    rows = _outermost(table[table[names.FEATURE].astype(str).isin(near)])
    clause = next(iter(near.values()))
    candidate = Select(sorted(near), clause.source, clause.where, clause.exclude, clause.origin)
    return (
        f"{_rows(rows)} ({_examples(rows)}) {_verb(rows, 'are')} spelled like "
        f"{_quoted(clause.feature)}; select {_them(rows)} with {_yaml(candidate)}."
    )


def _subject(spec: ConceptSpec) -> str:
    """A regex catching the concept's selected types written out in an attribute value."""
    words = set()
    for clause in spec.select:
        for name in narrower(clause.feature):
            term = _TERM.get(name)
            for word in (name, *(term.synonyms if term else ())):
                generic = name in _CONTAINERS or (term and term.encodes)
                if not word.startswith("SO:") and not generic:
                    words.add(re.sub(r"[_ -]", "[ _-]?", re.escape(word).replace(r"\ ", " ")))
    if not words:
        return ""
    alternatives = "|".join(sorted(words, key=len, reverse=True))
    return rf"(?i)(?:^|[^a-z0-9])({alternatives})(?:$|[^a-z0-9])"


def _mentioned(spec: ConceptSpec, table: pd.DataFrame) -> str:
    """Rows of another type whose product, biotype, Name ... name the concept's subject."""
    typed = np.zeros(len(table), dtype=bool)
    for clause in spec.select:
        if clause.feature:
            typed |= feature_mask(table, clause.feature)
    from ._derive import _outermost

    direct, stands = row_types(table)
    wanted = set().union(*(narrower(c.feature) for c in spec.select))
    protein = (direct.isin(_PROTEIN) | stands.isin(_PROTEIN)).to_numpy()
    if wanted & _PROTEIN:  # a coding concept may look for coding rows
        protein[:] = False
    rows = table[~typed & ~protein]
    patterns = [(p, None) for c in spec.select for p in c.where.values() if p] + [
        (_subject(spec), "word")
    ]
    hits = []  # (Feature, column, suggested pattern, row index)
    for column in (c for c in _DESCRIPTIVE if c in rows.columns):
        values = rows[column].where(rows[column].notna(), "").astype(str)
        for pattern, kind in patterns:
            if not pattern:
                continue
            with _quiet():
                found = values.str.contains(pattern, regex=True)
            for index in rows.index[found.to_numpy()]:
                shown = _suggest(values[index], pattern, column) if kind else pattern
                hits.append((rows.at[index, names.FEATURE], column, shown, index))
    if not hits:
        return ""
    hits = pd.DataFrame(hits, columns=["feature", "column", "pattern", "index"])
    hits = hits.drop_duplicates("index")
    hits = hits[hits["index"].isin(_outermost(table.loc[hits["index"]]).index)]
    best = hits.groupby(["feature", "column", "pattern"]).size().idxmax()
    picked = (hits[["feature", "column", "pattern"]] == best).all(axis=1)
    chosen = table.loc[hits.loc[picked, "index"]]
    feature, column, pattern = best
    shown = pattern.lstrip("^").rstrip("$")
    candidate = Select([feature], where={column: pattern})
    return (
        f"{_rows(chosen)} {_verb(chosen, 'have')} {column} matching '{shown}' "
        f"({_examples(chosen)}); select {_them(chosen)} with {_yaml(candidate)}."
    )


def _suggest(value: str, pattern: str, column: str) -> str:
    """A where pattern for ``column`` built from the subject word found in ``value``."""
    word = re.search(pattern, value).group(1)
    if column in _BIOTYPE_COLUMNS and value.lower() == word.lower():
        return f"^{word}$"
    return f"^{word}" if value.startswith(word) else word


@contextlib.contextmanager
def _quiet():
    """Regexes with groups are fine for a yes/no search; silence pandas' warning about them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _rows(rows: pd.DataFrame) -> str:
    """'3 rows typed tRNA_gene' (one feature on several lines counts once)."""
    n = _count(rows)
    types = rows[names.FEATURE].astype(str).value_counts().index.tolist()
    return f"{n} row{'s' if n != 1 else ''} typed {', '.join(types)}"


def _count(rows: pd.DataFrame) -> int:
    return len(rows.drop_duplicates([names.FILE, names.LINE, names.ID]))


def _examples(rows: pd.DataFrame) -> str:
    where = rows.sort_values([names.FILE, names.LINE])[[names.FILE, names.LINE]]
    shown = list(dict.fromkeys(f"{f}:{line}" for f, line in where.itertuples(index=False)))
    return ", ".join(shown[:_EXAMPLES]) + (", ..." if len(shown) > _EXAMPLES else "")


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _values(rows: pd.DataFrame, column: str) -> str:
    values = rows[column].dropna().astype(str) if column in rows.columns else pd.Series()
    values = values[values != ""]
    if values.empty:
        return f"{'it has' if _count(rows) == 1 else 'they have'} no {column}"
    seen = values.value_counts().index.tolist()
    more = ", ..." if len(seen) > _EXAMPLES else ""
    return f"theirs: {_quoted(seen[:_EXAMPLES])}{more}"


def _yaml(clause: Select) -> str:
    """The clause as a one-line YAML list item."""

    def mapping(items: dict[str, str]) -> str:
        return "{" + ", ".join(f"{k}: {json.dumps(str(v))}" for k, v in items.items()) + "}"

    parts = [f"feature: [{', '.join(clause.feature)}]"] if clause.feature else []
    for key in ("source", "origin"):
        if getattr(clause, key):
            parts.append(f"{key}: [{', '.join(getattr(clause, key))}]")
    for key in ("where", "exclude"):
        if getattr(clause, key):
            parts.append(f"{key}: {mapping(getattr(clause, key))}")
    return "- {" + ", ".join(parts) + "}"
