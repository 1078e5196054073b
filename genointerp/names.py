"""Column names, attribute keys and option sets used across genointerp.

Every table of intervals in genointerp uses these column names (the pyranges
0.x convention) and 0-based half-open coordinates.  Import them from here
rather than spelling the strings out.
"""

from __future__ import annotations

from typing import Literal, get_args

# Interval table columns (pyranges convention).
CHROM = "Chromosome"
START = "Start"
END = "End"
STRAND = "Strand"

# Annotation table columns added by genointerp's readers.
FEATURE = "Feature"  # feature type: GFF3 column 3 / GenBank feature key / BED "bed"
SOURCE = "Source"  # GFF3 column 2; GenBank and BED use the file name
SCORE = "Score"
PHASE = "Phase"  # CDS phase (GFF3 column 8); -1 when unknown
ID = "ID"  # feature identifier; generated as "<file>:<line>" when absent
NAME = "Name"
PARENT = "Parent"  # one parent id per row; multi-parent features are exploded
FILE = "File"  # file the row came from
LINE = "Line"  # line (GFF3/BED) or record number (GenBank) in that file
ANNOTATOR = "Annotator"  # the gi.annotate tool that made a row; missing (NaN) for curated rows

# Concept track columns.
CONCEPT = "Concept"
ELEMENT = "Element"  # element (instance) id within a concept

ANNOTATION_COLUMNS = (
    CHROM,
    START,
    END,
    STRAND,
    FEATURE,
    SOURCE,
    SCORE,
    PHASE,
    ID,
    NAME,
    PARENT,
    FILE,
    LINE,
)

# Strand values.
Strand = Literal["+", "-"]
STRANDS: tuple[str, ...] = get_args(Strand)
UNSTRANDED = "."
ANNOTATION_STRANDS = ("+", "-", ".")

# Option sets.
FileFormat = Literal["fasta", "gff3", "genbank", "bed", "tsv", "csv", "meme", "transfac", "text"]
FILE_FORMATS: tuple[str, ...] = get_args(FileFormat)

DatasetKind = Literal["prokaryote", "archaeon", "eukaryote", "motifs", "table"]
DATASET_KINDS: tuple[str, ...] = get_args(DatasetKind)

# Feature classes of a catalog (gi.rank), how people read them, and their one colour in every
# output: tracks (gi.export), plots (gi.pl), the viewer and the report.
FeatureClass = Literal["known", "candidate_novel", "uncharacterised", "dense", "dead"]
FEATURE_CLASSES: tuple[str, ...] = get_args(FeatureClass)
CLASS_LABELS = {
    "known": "known",
    "candidate_novel": "candidate novel",
    "uncharacterised": "uncharacterised",
    "dense": "dense",
    "dead": "dead",
}
CLASS_COLORS = {
    "known": "#1b7837",
    "candidate_novel": "#d95f02",
    "uncharacterised": "#7b8ea8",
    "dense": "#b8b8b8",
    "dead": "#e2e2e2",
}
"""Colour of each class: known green, candidate novel orange, the rest greys."""


def rgb(color: str) -> str:
    """``"r,g,b"`` (BED itemRgb, UCSC ``color=``) of a ``#rrggbb`` colour."""
    return ",".join(str(int(color[i : i + 2], 16)) for i in (1, 3, 5))


# HDF5 encoding attributes (see docs/file_formats.md).
ENCODING_TYPE = "encoding-type"
ENCODING_VERSION = "encoding-version"

# Environment variables.
ENV_CACHE = "GENOINTERP_CACHE"
ENV_MIRROR = "GENOINTERP_DATA_MIRROR"
ENV_OFFLINE = "GENOINTERP_OFFLINE"
