"""Defaults and option sets of the export, in a module light enough for the CLI to import."""

from __future__ import annotations

from typing import Literal, get_args

N_KNOWN = 50
"""Known features exported by default (best held-out element-F1 first)."""
N_NOVEL = 50
"""Candidate-novel features exported by default (most novel first)."""
CONTIG_NAMES = "genome"
"""Contig names written into every file by default: the genome's own."""
BIGWIG = True
"""Write activation bigWigs by default."""
BEDGRAPH = False
"""Write activation bedGraphs only on request."""

NamingStyle = Literal["genome", "chr", "accession"]
NAMING_STYLES: tuple[str, ...] = get_args(NamingStyle)
