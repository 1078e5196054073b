"""Annotate a genome from its sequence with the field's standard tools.

Genes, start and stop codons and Shine-Dalgarno sites from Prodigal (pyrodigal), tRNA
and tmRNA from ARAGORN (pyaragorn), rRNA from barrnap (pybarrnap), intrinsic
terminators from TransTermHP and CRISPR arrays from PILER-CR (Debian programs
``transterm`` and ``pilercr``). Outputs are cached as GFF3 beside the packed genomes and
come back as annotation tables with an ``Annotator`` column that ``gi.concepts`` selects on.
"""

from ._annotate import ANNOTATORS, annotate, versions
from ._tools import AnnotatorUnavailableError

__all__ = ["ANNOTATORS", "AnnotatorUnavailableError", "annotate", "versions"]
