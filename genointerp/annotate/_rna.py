"""tRNA and tmRNA genes from ARAGORN (pyaragorn); rRNA genes from barrnap (pybarrnap)."""

from __future__ import annotations

import logging

from ..io import Genome
from ._gff import Row

log = logging.getLogger(__name__)


def aragorn_rows(genome: Genome, table: int) -> list[Row]:
    """tRNA (``product=tRNA-Ala``, anticodon) and tmRNA (tag peptide) rows.

    Contigs known to be circular are searched as circular; a gene that ARAGORN places
    across the origin is left out (a GFF3 row cannot cross the origin here), and logged.
    """
    import pyaragorn

    out, counts = [], {"tRNA": 0, "tmRNA": 0}
    for contig in genome.names:
        length = genome.lengths[contig]
        if not length:
            continue
        finder = pyaragorn.RNAFinder(
            table, trna=True, tmrna=True, linear=not genome.circular[contig]
        )
        for gene in finder.find_rna(genome.fetch(contig)):
            start, end = min(gene.begin, gene.end), max(gene.begin, gene.end)
            if start < 1 or end > length:
                log.info("ARAGORN %s on %s crosses the origin: left out", gene.type, contig)
                continue
            counts[gene.type] += 1
            strand = "+" if gene.strand == 1 else "-"
            if gene.type == "tmRNA":
                attrs = {"product": "tmRNA", "tag_peptide": gene.peptide()}
                name = "tmRNA"
            else:
                amino = gene.amino_acid or "Xxx"
                anticodon = (gene.anticodon or "").lower()
                attrs = {"product": f"tRNA-{amino}", "anticodon": anticodon}
                name = f"tRNA-{amino}({anticodon})"
            row_id = f"aragorn:{contig}:{gene.type}{counts[gene.type]}"
            out.append(
                Row(
                    contig,
                    start - 1,
                    end,
                    strand,
                    gene.type,
                    row_id,
                    gene.energy,
                    name=name,
                    attributes=attrs,
                )
            )
    return out


def barrnap_rows(genome: Genome, kingdom: str, settings: dict) -> list[Row]:
    """rRNA rows (``product=16S ribosomal RNA``), E-value as score; partial hits marked."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord
    from pybarrnap import Barrnap

    ids = {f"c{i}": name for i, name in enumerate(genome.names) if genome.lengths[name]}
    records = [
        SeqRecord(Seq(genome.fetch(name)), id=i, name=i, description=i) for i, name in ids.items()
    ]
    if not records:
        return []
    result = Barrnap(
        records,
        kingdom=kingdom,
        threads=1,
        quiet=True,
        evalue=settings["evalue"],
        lencutoff=settings["lencutoff"],
        reject=settings["reject"],
    ).run()
    out, counts = [], {}
    for hit in result.mdl_records:
        contig = ids[hit.target_name]
        counts[contig] = counts.get(contig, 0) + 1
        attrs = {"product": hit.product}
        if hit.is_partial(settings["lencutoff"]):
            attrs["partial"] = "true"
        out.append(
            Row(
                contig,
                hit.start - 1,
                hit.end,
                hit.strand,
                "rRNA",
                f"barrnap:{contig}:rRNA{counts[contig]}",
                hit.evalue,
                name=hit.query_name,
                attributes=attrs,
            )
        )
    return out
