"""Agreement of gi.annotate's annotators with the curated annotation of every mirrored genome.

Runs every annotator on each data set of kind ``prokaryote`` or ``archaeon`` (barrnap's
``arc`` models for archaea) and prints markdown: E. coli's agreement first, then counts
per genome beside the curated counts. Outputs are cached, so a second run only reads.

    GENOINTERP_DATA_MIRROR=../shared/data python docs/annotate_agreement.py

A curated feature is found when an annotator's row of the same type overlaps it on the
same strand (CRISPR arrays: on either strand); "extra" rows overlap no curated one.
Gene starts and stops match when the coordinate is identical (stop codon included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genointerp import names
from genointerp.annotate import annotate, versions
from genointerp.datasets import get_manifest, list_manifests, load


def found(of: pd.DataFrame, among: pd.DataFrame, *, stranded: bool = True) -> int:
    """Rows of ``of`` that overlap a row of ``among`` on the same contig (and strand)."""
    n = 0
    for row in of.itertuples():
        hit = among[
            (among[names.CHROM] == row.Chromosome)
            & (among[names.START] < row.End)
            & (among[names.END] > row.Start)
        ]
        if stranded:
            hit = hit[hit[names.STRAND] == row.Strand]
        n += len(hit) > 0
    return n


def gene_ends(cds: pd.DataFrame) -> tuple[set, set]:
    """(contig, strand, position) of each CDS's start and stop end, segments joined by ID."""
    genes = cds.groupby(names.ID).agg(
        Chromosome=(names.CHROM, "first"),
        Start=(names.START, "min"),
        End=(names.END, "max"),
        Strand=(names.STRAND, "first"),
    )
    plus = genes.Strand == "+"
    key = list(zip(genes.Chromosome, genes.Strand, strict=True))
    starts = {(*k, p) for k, p in zip(key, np.where(plus, genes.Start, genes.End), strict=True)}
    stops = {(*k, p) for k, p in zip(key, np.where(plus, genes.End, genes.Start), strict=True)}
    return starts, stops


def curated_crispr(table: pd.DataFrame) -> pd.DataFrame:
    """CRISPR arrays of a curated table: SO type ``CRISPR``, or RAST's ``crispr_array`` note."""
    note = table.get("note", pd.Series("", index=table.index)).fillna("")
    return table[(table[names.FEATURE] == "CRISPR") | note.str.startswith("crispr_array")]


def of_type(table: pd.DataFrame, feature: str) -> pd.DataFrame:
    return table[table[names.FEATURE] == feature]


def pct(n: int, of: int) -> str:
    return f"{n:,} ({100 * n / of:.1f}%)" if of else "–"


def agreement(name: str) -> dict:
    """Counts and matches of one data set."""
    manifest = get_manifest(name)
    dataset = load(name)
    genome = dataset.genome()
    curated = dataset.annotation_table(genome, missing="skip")
    kingdom = "arc" if manifest.kind == "archaeon" else "bac"
    mine = annotate(genome, kingdom=kingdom)
    starts, stops = gene_ends(of_type(curated, "CDS"))
    my_starts, my_stops = gene_ends(of_type(mine, "CDS"))
    out = {
        "genome": name,
        "Mb": sum(genome.lengths.values()) / 1e6,
        "table": of_type(mine, "CDS")["transl_table"].mode().iloc[0],
        "cds": (len(my_stops), len(stops)),
        "stops": len(stops & my_stops),
        "starts": len(starts & my_starts),
        "sd": len(of_type(mine, "Shine_Dalgarno_sequence")),
        "terminators": len(of_type(mine, "terminator")),
    }
    for feature in ("tRNA", "rRNA", "tmRNA"):
        theirs, ours = of_type(curated, feature), of_type(mine, feature)
        if feature == "tmRNA":  # NCBI types E. coli's ssrA as ncRNA
            gene = curated.get("gene", pd.Series("", index=curated.index))
            theirs = curated[(curated[names.FEATURE] == "tmRNA") | (gene == "ssrA")]
            theirs = theirs[theirs[names.FEATURE] != "gene"].drop_duplicates([names.START])
        out[feature] = (
            len(ours),
            len(theirs),
            found(theirs, ours),
            len(ours) - found(ours, theirs),
        )
    theirs, ours = curated_crispr(curated), of_type(mine, "CRISPR")
    hits = found(theirs, ours, stranded=False)
    out["CRISPR"] = (len(ours), len(theirs), hits, len(ours) - found(ours, theirs, stranded=False))
    return out


def ecoli_table(row: dict) -> list[str]:
    n_cds = row["cds"][1]
    lines = [
        "| annotator | element | curated | found | extra |",
        "|---|---|---:|---:|---:|",
    ]
    for tool, feature in (("aragorn", "tRNA"), ("aragorn", "tmRNA"), ("barrnap", "rRNA")):
        ours, theirs, hit, extra = row[feature]
        lines.append(f"| {tool} | {feature} genes | {theirs} | {hit} | {extra} |")
    lines.append(f"| prodigal | CDS stops (exact) | {n_cds:,} | {pct(row['stops'], n_cds)} | – |")
    lines.append(f"| prodigal | CDS starts (exact) | {n_cds:,} | {pct(row['starts'], n_cds)} | – |")
    lines.append(f"| prodigal | CDS predicted | {n_cds:,} | {row['cds'][0]:,} | – |")
    lines.append(f"| prodigal | Shine-Dalgarno sites | – | {row['sd']:,} | – |")
    ours, theirs, hit, extra = row["CRISPR"]
    lines.append(f"| pilercr | CRISPR arrays | {theirs} | {hit} | {extra} |")
    lines.append(f"| transtermhp | terminators | – | {row['terminators']:,} | – |")
    return lines


def genome_table(rows: list[dict]) -> list[str]:
    lines = [
        "| genome | Mb | table | CDS (curated) | stops match | starts match "
        "| tRNA (curated, found) | rRNA (curated, found) | tmRNA (curated) "
        "| CRISPR (curated, found) | terminators | SD sites |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        n_cds = r["cds"][1]
        cells = [
            r["genome"],
            f"{r['Mb']:.2f}",
            r["table"],
            f"{r['cds'][0]:,} ({n_cds:,})",
            pct(r["stops"], n_cds),
            pct(r["starts"], n_cds),
            *(f"{r[f][0]} ({r[f][1]}, {r[f][2]})" for f in ("tRNA", "rRNA")),
            f"{r['tmRNA'][0]} ({r['tmRNA'][1]})",
            f"{r['CRISPR'][0]} ({r['CRISPR'][1]}, {r['CRISPR'][2]})",
            f"{r['terminators']:,}",
            f"{r['sd']:,}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    genomes = [
        name
        for name in sorted(list_manifests())
        if get_manifest(name).kind in ("prokaryote", "archaeon")
    ]
    rows = [agreement(name) for name in genomes]
    ecoli = next(r for r in rows if r["genome"] == "ecoli_k12")
    print("\n".join(["### E. coli K-12 MG1655", "", *ecoli_table(ecoli), ""]))
    print("\n".join(["### Every genome in the mirror", "", *genome_table(rows), ""]))
    print("Tools: " + "; ".join(f"{k}: {v or 'not installed'}" for k, v in versions().items()))


if __name__ == "__main__":
    main()
