"""Derive a concept's elements from annotation rows: select, group, transform.

Elements are held as a table of parts (one row per interval) with columns
Chromosome, Start, End, Strand, Element, Frame, Phase.  ``Frame`` is -1 for an
ordinary interval; 0, 1 or 2 for a periodic one that covers only positions
``p`` with ``p % 3 == Frame`` (codon positions).  All work is vectorised over
the table; nothing loops over positions.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import names
from ._catalog import ConceptSpec, Select, Step
from ._dialects import feature_mask

PART_COLUMNS = [
    names.CHROM,
    names.START,
    names.END,
    names.STRAND,
    names.ELEMENT,
    "Frame",
    names.PHASE,
]


def derive(
    spec: ConceptSpec,
    table: pd.DataFrame,
    lengths: Mapping[str, int],
    circular: Mapping[str, bool],
) -> pd.DataFrame:
    """The parts of every element of concept ``spec``, sorted and de-duplicated."""
    parts = _select(spec, table)
    for step in spec.steps:
        parts = _STEPS[step.op](parts, step, lengths, circular)
    if not spec.stranded:
        parts = parts.assign(**{names.STRAND: names.UNSTRANDED})
    return _deduplicate(parts)


def _select(spec: ConceptSpec, table: pd.DataFrame) -> pd.DataFrame:
    keep = np.zeros(len(table), dtype=bool)
    for clause in spec.select:
        keep |= _matches(clause, table)
    rows = table[keep]
    if spec.element != "Parent":
        rows = _outermost(rows)
    key = {"ID": names.ID, "Parent": names.PARENT, "row": None}[spec.element]
    if key is None:
        # file:line:id is one feature row (GenBank 'Line' is the record, so add the id)
        element = (
            rows[names.FILE].astype(str)
            + ":"
            + rows[names.LINE].astype(str)
            + ":"
            + rows[names.ID].astype(str)
        )
    else:
        element = rows[key].astype(str)
        if key == names.PARENT:  # rows without a parent stand alone
            element = element.where(element != "", rows[names.ID].astype(str))
    return pd.DataFrame(
        {
            names.CHROM: rows[names.CHROM].to_numpy(),
            names.START: rows[names.START].to_numpy(),
            names.END: rows[names.END].to_numpy(),
            names.STRAND: rows[names.STRAND].to_numpy(),
            names.ELEMENT: element.to_numpy(),
            "Frame": np.full(len(rows), -1, dtype=np.int8),
            names.PHASE: rows[names.PHASE].to_numpy(),
        }
    )


def _matches(clause: Select, table: pd.DataFrame) -> np.ndarray:
    keep = np.ones(len(table), dtype=bool)
    if clause.feature:
        keep &= feature_mask(table, clause.feature)
    if clause.source:
        keep &= table[names.SOURCE].isin(clause.source).to_numpy()
    if clause.origin:
        keep &= _origin(table).isin(clause.origin).to_numpy()
    for column, pattern in clause.where.items():
        keep &= _search(table, column, pattern)
    for column, pattern in clause.exclude.items():
        keep &= ~_search(table, column, pattern)
    return keep


def _outermost(rows: pd.DataFrame) -> pd.DataFrame:
    """Drop rows whose parent is also selected: one element per gene when a dialect gives both
    the gene and its transcript the concept's type (Ensembl's tRNA_gene and its tRNA transcript)."""
    parent = rows[names.PARENT].astype(str)
    nested = (parent != "") & parent.isin(set(rows[names.ID].astype(str)))
    return rows[~nested.to_numpy()]


def _origin(table: pd.DataFrame) -> pd.Series:
    """``curated`` for rows read from annotation files, else the annotator's name."""
    if names.ANNOTATOR not in table.columns:
        return pd.Series("curated", index=table.index)
    return table[names.ANNOTATOR].fillna("curated").astype(str)


def _search(table: pd.DataFrame, column: str, pattern: str) -> np.ndarray:
    """Regex search per row; a missing column or value never matches."""
    if column not in table.columns:
        return np.zeros(len(table), dtype=bool)
    values = table[column]
    present = values.notna().to_numpy()
    with warnings.catch_warnings():  # patterns with groups are fine: we only test for a match
        warnings.simplefilter("ignore", UserWarning)
        found = values.astype(str).str.contains(str(pattern), regex=True).to_numpy()
    return present & found


def _transcript_order(parts: pd.DataFrame) -> pd.DataFrame:
    """Sort each element's parts 5' to 3' on its strand."""
    key = np.where(parts[names.STRAND] == "-", -parts[names.START], parts[names.START])
    return (
        parts.assign(_key=key)
        .sort_values([names.ELEMENT, "_key"], kind="stable")
        .drop(columns="_key")
        .reset_index(drop=True)
    )


def _spliced_offsets(parts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per part (in transcript order): its length, spliced offset of its 5' end, element total."""
    length = (parts[names.END] - parts[names.START]).to_numpy()
    grouped = pd.Series(length).groupby(parts[names.ELEMENT].to_numpy())
    offset = grouped.cumsum().to_numpy() - length
    total = grouped.transform("sum").to_numpy()
    return length, offset, total


def _spliced(parts, step: Step, lengths, circular) -> pd.DataFrame:
    """Window ``[start, end)`` in spliced (transcript) coordinates, e.g. a start codon."""
    parts = _transcript_order(parts)
    length, offset, total = _spliced_offsets(parts)
    base = total if step.anchor == "3prime" else 0
    lo = np.clip(base + step.start, 0, total)
    hi = np.clip(base + step.end, 0, total)
    s = np.maximum(lo, offset) - offset  # window inside this part, relative to its 5' end
    e = np.minimum(hi, offset + length) - offset
    plus = (parts[names.STRAND] != "-").to_numpy()
    start, end = parts[names.START].to_numpy(), parts[names.END].to_numpy()
    out = parts.assign(
        **{
            names.START: np.where(plus, start + s, end - e),
            names.END: np.where(plus, start + e, end - s),
        }
    )
    return out[s < e]


def _flank(parts, step: Step, lengths, circular) -> pd.DataFrame:
    """Genomic window relative to each element's 5' start or 3' end, on its strand."""
    ext = _extent(parts)
    plus = (ext[names.STRAND] != "-").to_numpy()
    start, end = ext[names.START].to_numpy(), ext[names.END].to_numpy()
    if step.anchor == "5prime":
        ref = np.where(plus, start, end - 1)
    else:
        ref = np.where(plus, end, start - 1)
    ext[names.START] = np.where(plus, ref + step.start, ref - step.end + 1)
    ext[names.END] = np.where(plus, ref + step.end, ref - step.start + 1)
    return _fit_to_contigs(ext, lengths, circular)


def _extent(parts: pd.DataFrame) -> pd.DataFrame:
    grouped = parts.groupby(names.ELEMENT, sort=False)
    ext = grouped.agg(
        **{
            names.CHROM: (names.CHROM, "first"),
            names.START: (names.START, "min"),
            names.END: (names.END, "max"),
            names.STRAND: (names.STRAND, "first"),
            names.PHASE: (names.PHASE, "first"),
        }
    ).reset_index()
    ext["Frame"] = np.int8(-1)
    return ext[PART_COLUMNS]


def _fit_to_contigs(parts: pd.DataFrame, lengths, circular) -> pd.DataFrame:
    """Wrap windows past a circular contig's ends around its origin; clip on linear ones."""
    size = parts[names.CHROM].map(lengths).to_numpy()
    is_circ = parts[names.CHROM].map(lambda c: bool(circular.get(c))).to_numpy(dtype=bool)
    start, end = parts[names.START].to_numpy(), parts[names.END].to_numpy()
    pieces = [
        parts.assign(**{names.START: np.clip(start, 0, size), names.END: np.clip(end, 0, size)})
    ]
    before = is_circ & (start < 0)
    after = is_circ & (end > size)
    if before.any():
        pieces.append(
            parts[before].assign(
                **{names.START: start[before] + size[before], names.END: size[before]}
            )
        )
    if after.any():
        pieces.append(parts[after].assign(**{names.START: 0, names.END: end[after] - size[after]}))
    out = pd.concat(pieces, ignore_index=True)
    return out[out[names.START] < out[names.END]]


def _introns(parts, step: Step, lengths, circular) -> pd.DataFrame:
    """Gaps between consecutive parts of each element (e.g. the exons of a transcript)."""
    parts = parts.sort_values([names.ELEMENT, names.START], kind="stable").reset_index(drop=True)
    next_start = parts.groupby(names.ELEMENT)[names.START].shift(-1)
    gap = next_start.notna() & (next_start > parts[names.END])
    introns = parts[gap].assign(
        **{names.START: parts[names.END][gap], names.END: next_start[gap].astype(np.int64)}
    )
    rank = introns.groupby(names.ELEMENT).cumcount() + 1
    n = introns.groupby(names.ELEMENT)[names.START].transform("size")
    number = np.where(introns[names.STRAND] == "-", n - rank + 1, rank)
    introns[names.ELEMENT] = (
        introns[names.ELEMENT] + ":intron" + pd.Series(number, index=introns.index).astype(str)
    )
    return introns


def _codon_position(parts, step: Step, lengths, circular) -> pd.DataFrame:
    """Positions that are codon position ``step.position`` (0-based) in the reading frame.

    The frame comes from the phase of the element's 5'-most part (GFF3 column 8 or
    GenBank ``/codon_start``): the first complete codon starts ``phase`` nt in.
    """
    parts = _transcript_order(parts)
    _, offset, _ = _spliced_offsets(parts)
    phase = parts.groupby(names.ELEMENT)[names.PHASE].transform("first").clip(lower=0).to_numpy()
    k = step.position
    plus = (parts[names.STRAND] != "-").to_numpy()
    start, end = parts[names.START].to_numpy(), parts[names.END].to_numpy()
    frame = np.where(plus, start - offset + phase + k, end - 1 + offset - phase - k) % 3
    return parts.assign(Frame=frame.astype(np.int8))


def _complement(parts, step: Step, lengths, circular) -> pd.DataFrame:
    """Positions of each contig covered by no element on either strand (e.g. intergenic)."""
    rows = []
    for contig, size in lengths.items():
        own = parts[parts[names.CHROM] == contig]
        starts, ends = _merge_intervals(own[names.START].to_numpy(), own[names.END].to_numpy())
        gap_starts = np.concatenate(([0], ends))
        gap_ends = np.concatenate((starts, [size]))
        keep = gap_starts < gap_ends
        for s, e in zip(gap_starts[keep], gap_ends[keep], strict=True):
            rows.append((contig, int(s), int(e), names.UNSTRANDED, f"{contig}:{s}-{e}", -1, -1))
    return pd.DataFrame(rows, columns=PART_COLUMNS).astype({"Frame": np.int8})


def _merge(parts, step: Step, lengths, circular) -> pd.DataFrame:
    """Join elements on the same strand at most ``gap`` bp apart (touching ones at gap 0)."""
    out = []
    for (contig, strand), group in parts.groupby([names.CHROM, names.STRAND], sort=False):
        group = group.sort_values(names.START)
        starts, ends = group[names.START].to_numpy(), group[names.END].to_numpy()
        reach = np.maximum.accumulate(ends)
        cluster = np.cumsum(np.concatenate(([0], starts[1:] > reach[:-1] + step.gap)))
        merged = (
            group.assign(_c=cluster)
            .groupby("_c")
            .agg(
                **{
                    names.START: (names.START, "min"),
                    names.END: (names.END, "max"),
                    names.ELEMENT: (names.ELEMENT, "first"),
                }
            )
        )
        merged[names.CHROM], merged[names.STRAND] = contig, strand
        out.append(merged)
    if not out:
        return parts
    merged = pd.concat(out, ignore_index=True).assign(Frame=np.int8(-1), **{names.PHASE: -1})
    return merged[PART_COLUMNS]


def _span(parts, step: Step, lengths, circular) -> pd.DataFrame:
    """Each element as one interval from its first to its last part."""
    return _extent(parts)


def _merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(starts) == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    new = np.concatenate(([True], starts[1:] > reach[:-1]))
    idx = np.flatnonzero(new)
    return starts[idx], np.maximum.reduceat(ends, idx)


def _deduplicate(parts: pd.DataFrame) -> pd.DataFrame:
    """Drop elements whose parts repeat another element's exactly (e.g. isoforms' shared exons)."""
    if parts.empty:
        return parts[PART_COLUMNS].reset_index(drop=True)
    parts = parts.sort_values([names.ELEMENT, names.START, names.END], kind="stable")
    signature = (
        parts[names.CHROM].astype(str)
        + ":"
        + parts[names.START].astype(str)
        + "-"
        + parts[names.END].astype(str)
        + parts[names.STRAND].astype(str)
        + parts["Frame"].astype(str)
    )
    per_element = signature.groupby(parts[names.ELEMENT].to_numpy()).agg("|".join)
    keep = per_element[~per_element.duplicated()].index
    parts = parts[parts[names.ELEMENT].isin(keep)]
    parts = parts.drop_duplicates([names.ELEMENT, names.START, names.END, names.STRAND, "Frame"])
    return parts.sort_values([names.CHROM, names.START, names.END], kind="stable")[
        PART_COLUMNS
    ].reset_index(drop=True)


_STEPS = {
    "spliced": _spliced,
    "flank": _flank,
    "introns": _introns,
    "codon_position": _codon_position,
    "complement": _complement,
    "merge": _merge,
    "span": _span,
}
