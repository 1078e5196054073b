"""Genes, start and stop codons and Shine-Dalgarno sites from Prodigal (pyrodigal)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from Bio.Seq import reverse_complement

from ..io import Genome
from ._gff import Row

TABLES = (11, 4)
CHECKM_MARGIN = 0.05  # table 4 wins when its coding density is >5% (relative) above table 11's
CHECKM_MIN_DENSITY = 0.7  # ... and it codes for at least 70% of the genome (CheckM's rule)
_SPACER = re.compile(r"^(\d+)-(\d+)bp$")


@dataclass
class Prediction:
    """Genes of every contig under one translation table."""

    table: int
    mode: str  # "single" (trained on this genome) or "meta" (pre-trained models)
    genes: dict  # {contig: pyrodigal.Genes}
    coding_density: float


def mode_for(genome: Genome) -> str:
    """``single`` when the genome is long enough to train Prodigal (100 kb), else ``meta``."""
    import pyrodigal

    return "single" if sum(genome.lengths.values()) >= pyrodigal.IDEAL_SINGLE_GENOME else "meta"


def predict(genome: Genome, table: int) -> Prediction:
    """Prodigal's genes under ``table``: trained on all contigs, or meta models of that table."""
    import pyrodigal

    seqs = {name: genome.fetch(name) for name in genome.names if genome.lengths[name]}
    mode = mode_for(genome)
    if mode == "single":
        finder = pyrodigal.GeneFinder()
        finder.train(*seqs.values(), translation_table=table)
    else:
        bins = [b for b in pyrodigal.METAGENOMIC_BINS if b.training_info.translation_table == table]
        finder = pyrodigal.GeneFinder(meta=True, metagenomic_bins=pyrodigal.MetagenomicBins(bins))
    genes = {name: finder.find_genes(seq) for name, seq in seqs.items()}
    return Prediction(table, mode, genes, _coding_density(genome, genes))


def _coding_density(genome: Genome, genes: dict) -> float:
    coding, total = 0, sum(genome.lengths.values())
    for name, found in genes.items():
        mask = np.zeros(genome.lengths[name], dtype=bool)
        for gene in found:
            mask[gene.begin - 1 : gene.end] = True
        coding += int(mask.sum())
    return coding / max(total, 1)


def choose(genome: Genome, translation_table: int | str) -> tuple[Prediction, dict]:
    """The prediction to keep and how its table was chosen (for the file header).

    ``"auto"`` runs Prodigal under tables 11 and 4 and keeps 4 only when CheckM's rule
    holds (Parks et al. 2015): table 4's coding density is more than 5% above table
    11's and at least 70%. Recoding TGA from stop to Trp lengthens genes only where
    TGA really is read through, so a table-11 genome loses nothing by this test.
    """
    if translation_table != "auto":
        kept = predict(genome, int(translation_table))
        return kept, {"chosen": kept.table, "how": "given"}
    by_table = {t: predict(genome, t) for t in TABLES}
    d11, d4 = by_table[11].coding_density, by_table[4].coding_density
    wins = d4 > d11 * (1 + CHECKM_MARGIN) and d4 >= CHECKM_MIN_DENSITY
    kept = by_table[4 if wins else 11]
    how = "auto: table 4 if its coding density is >5% above table 11's and >=0.7 (CheckM)"
    density = {str(t): round(p.coding_density, 4) for t, p in by_table.items()}
    return kept, {"chosen": kept.table, "how": how, "coding_density": density}


def rows(genome: Genome, prediction: Prediction) -> list[Row]:
    """CDS rows (stop codon included, like NCBI) and their Shine-Dalgarno rows."""
    out = []
    for contig, genes in prediction.genes.items():
        for k, gene in enumerate(genes, start=1):
            gene_id = f"prodigal:{contig}:{k}"
            strand = "+" if gene.strand == 1 else "-"
            attrs = {
                "start_type": gene.start_type,
                "stop_codon": "" if _stop_missing(gene) else gene.sequence()[-3:],
                "partial": f"{int(gene.partial_begin)}{int(gene.partial_end)}",
                "rbs_motif": gene.rbs_motif or "",
                "rbs_spacer": gene.rbs_spacer or "",
                "transl_table": str(gene.translation_table),
                "conf": f"{gene.confidence():.2f}",
            }
            out.append(
                Row(
                    contig,
                    gene.begin - 1,
                    gene.end,
                    strand,
                    "CDS",
                    gene_id,
                    gene.score,
                    0,
                    attributes=attrs,
                )
            )
            site = shine_dalgarno(genome, contig, gene, gene_id)
            if site is not None:
                out.append(site)
    return out


def _stop_missing(gene) -> bool:
    """A gene running off a contig end has no stop codon (left end on the minus strand)."""
    return bool(gene.partial_end if gene.strand == 1 else gene.partial_begin)


def _alternatives(motif: str | None) -> list[re.Pattern] | None:
    """Prodigal's motif label (``GGAG/GAGG``, ``AGxAG``, ``AGGAG(G)``) as patterns.

    None for labels that name no word (``3Base/5BMM``, ``4Base/6BMM``: a 3-base match
    or a 5-base word with a mismatch) and for non-purine words (non-SD upstream motifs).
    """
    if not motif:
        return None
    words = motif.split("/")
    if not all(re.fullmatch(r"[AGx()]+", w) for w in words):
        return None
    return [
        re.compile("(?=(" + w.replace("x", "[ACGT]").replace("(G)", "G?") + "))") for w in words
    ]


def shine_dalgarno(genome: Genome, contig: str, gene, gene_id: str) -> Row | None:
    """Place Prodigal's reported RBS motif upstream of the start, on the gene's strand.

    Prodigal reports the motif and a spacer range (bases between the motif and the
    start codon), not the position. The site is the motif's occurrence whose spacer is
    in that range; of several, the longest, then the one nearest the start. None when
    Prodigal reports no placeable motif or the window holds none (e.g. at a contig end).
    """
    patterns = _alternatives(gene.rbs_motif)
    spacer = _SPACER.match(gene.rbs_spacer or "")
    if patterns is None or spacer is None:
        return None
    low, high = int(spacer.group(1)), int(spacer.group(2))
    reach, length = high + 6, genome.lengths[contig]
    if gene.strand == 1:
        start = gene.begin - 1
        lo = max(0, start - reach)
        window = genome.fetch(contig, lo, start)
    else:
        start = gene.end
        hi = min(length, start + reach)
        window = reverse_complement(genome.fetch(contig, start, hi))
    best = None
    for pattern in patterns:
        for m in pattern.finditer(window):
            word = m.group(1)
            gap = len(window) - m.start() - len(word)
            if low <= gap <= high and (
                best is None or (-len(word), gap) < (-len(best[1]), best[2])
            ):
                best = (m.start(), word, gap)
    if best is None:
        return None
    at, word, gap = best
    if gene.strand == 1:
        s, e, strand = lo + at, lo + at + len(word), "+"
    else:
        s, e, strand = hi - at - len(word), hi - at, "-"
    attrs = {"rbs_motif": gene.rbs_motif, "sequence": word, "spacer": str(gap)}
    return Row(
        contig,
        s,
        e,
        strand,
        "Shine_Dalgarno_sequence",
        f"{gene_id}:SD",
        parent=gene_id,
        attributes=attrs,
    )
