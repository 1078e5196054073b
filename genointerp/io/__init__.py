"""Genomes and annotations: FASTA, GenBank, GFF3 and BED in, pyranges out.

All coordinates are 0-based half-open; column names come from :mod:`genointerp.names`.
:class:`RunDir` finds the files of a run folder; :func:`write_run_info` writes its
``run.json`` (which genome the run used).
"""

from .._rundir import RunDir, write_run_info
from ._aliases import ContigAliases, read_alias_table
from ._genome import Genome
from ._read import annotation_table, read_annotations, read_bed, read_fasta, read_genbank, read_gff3

__all__ = [
    "ContigAliases",
    "Genome",
    "RunDir",
    "annotation_table",
    "read_alias_table",
    "read_annotations",
    "read_bed",
    "read_fasta",
    "read_genbank",
    "read_gff3",
    "write_run_info",
]
