"""Annotation dialects: every dialect's spelling gives the same elements; empty concepts say why.

The files in tests/data/dialects describe one synthetic 3,500 bp genome (sequence.fa) in each
dialect's own spelling. Its features (1-based, inclusive) are: CDS 101..700 (+) and 2701..2901
(-); tRNA 801..876 (+) and 3301..3374 (-); 16S rRNA 901..1400, 23S 1451..1850, 5S 1901..2016
(+); tmRNA 2101..2463 (-); 6S ncRNA 2501..2684 (+); a CRISPR array 3001..3151 with repeats
3001..3029, 3062..3090, 3123..3151 and spacers between; Bakta adds an sORF 3401..3463 (+).
The expected elements below are those coordinates written 0-based, half-open.
"""

from __future__ import annotations

import logging

import pytest
import yaml

import genointerp as gi
from genointerp import names
from genointerp.concepts import Catalog, ConceptSpec, Select
from genointerp.concepts._dialects import canonical, empty_concept_hint
from tests.conftest import DATA

DIALECTS = DATA / "dialects"
SEQIDS = {  # each GFF3 dialect's name for the one contig; GenBank files carry their sequence
    "ncbi_refseq.gff3": "NZ_CP000001.1",
    "ensembl_bacteria.gff3": "Chromosome",
    "prokka.gff3": "contig_1",
    "bakta.gff3": "contig_1",
    "hint_case.gff3": "contig_1",
}
GENES = {
    "cds": [(100, 700, "+"), (2700, 2901, "-")],
    "trna": [(800, 876, "+"), (3300, 3374, "-")],
    "rrna": [(900, 1400, "+"), (1450, 1850, "+"), (1900, 2016, "+")],
    "rrna_16s": [(900, 1400, "+")],
    "rrna_23s": [(1450, 1850, "+")],
    "rrna_5s": [(1900, 2016, "+")],
}
NCRNA = {
    "ncrna": [(2100, 2463, "-"), (2500, 2684, "+")],
    "tmrna": [(2100, 2463, "-")],
}
ARRAY = {"crispr_array": [(3000, 3151, ".")]}
ARRAY_PARTS = {
    "crispr_repeat": [(3000, 3029, "."), (3061, 3090, "."), (3122, 3151, ".")],
    "crispr_spacer": [(3029, 3061, "."), (3090, 3122, ".")],
}
CRISPR = [*ARRAY, *ARRAY_PARTS]
EXPECTED = {  # dialect file: (concepts with their elements, concepts whose rows are absent)
    "ncbi_refseq.gff3": ({**GENES, **NCRNA, **ARRAY}, [*ARRAY_PARTS, "prophage_gene"]),
    "ncbi.gbk": ({**GENES, **NCRNA, **ARRAY}, [*ARRAY_PARTS, "prophage_gene"]),
    "ensembl_bacteria.gff3": ({**GENES, **NCRNA}, [*CRISPR, "prophage_gene"]),
    "prokka.gff3": ({**GENES, **NCRNA, **ARRAY}, [*ARRAY_PARTS, "prophage_gene"]),
    "bakta.gff3": (
        {**GENES, "cds": [*GENES["cds"], (3400, 3463, "+")], **NCRNA, **ARRAY, **ARRAY_PARTS},
        ["prophage_gene"],
    ),
    "rast.gbk": (
        {**GENES, **ARRAY, **ARRAY_PARTS, "prophage_gene": [(2700, 2901, ".")]},
        ["ncrna", "tmrna"],
    ),
}


def genome_for(name: str, tmp_path) -> gi.io.Genome:
    if name.endswith(".gbk"):
        return gi.io.Genome.open(DIALECTS / name, cache_dir=tmp_path / "cache")
    lines = (DIALECTS / "sequence.fa").read_text().splitlines()
    fasta = tmp_path / f"{name}.fa"
    fasta.write_text("\n".join([f">{SEQIDS[name]}", *lines[1:]]) + "\n")
    return gi.io.Genome.open(fasta, cache_dir=tmp_path / "cache")


def elements(tracks, concept):
    parts = tracks.parts(concept)
    return sorted(zip(parts[names.START], parts[names.END], parts[names.STRAND], strict=True))


def build(name, tmp_path, catalog="prokaryote", concepts=None, annotations=None):
    genome = genome_for(name, tmp_path)
    rows = annotations if annotations is not None else [DIALECTS / name]
    return gi.concepts.build(genome, catalog, rows, concepts=concepts)


@pytest.mark.parametrize("dialect", sorted(EXPECTED))
def test_every_dialect_gives_the_same_elements(dialect, tmp_path):
    present, absent = EXPECTED[dialect]
    tracks = build(dialect, tmp_path, concepts=[*present, *absent])
    for concept, expected in present.items():
        assert elements(tracks, concept) == sorted(expected), concept
    for concept in absent:
        assert elements(tracks, concept) == [], concept


def test_ensembl_rna_genes_are_one_element_per_gene(tmp_path):
    # each RNA gene is a gene row plus a transcript row of the same type (and an exon):
    # the element is the gene, not the transcript, and not both
    tracks = build("ensembl_bacteria.gff3", tmp_path, concepts=["trna", "rrna", "ncrna"])
    assert sorted(tracks.elements("trna")[names.ELEMENT]) == ["gene:SYN_t01", "gene:SYN_t02"]
    assert sorted(tracks.elements("rrna")[names.ELEMENT]) == [
        "gene:SYN_r01",
        "gene:SYN_r02",
        "gene:SYN_r03",
    ]
    assert sorted(tracks.elements("ncrna")[names.ELEMENT]) == ["gene:SYN_s01", "gene:SYN_s02"]


def test_spellings_map_to_the_catalog_types():
    assert canonical("crispr-repeat") == "CRISPR_repeat"
    assert canonical("crispr-spacer") == "CRISPR_spacer"
    assert canonical("SO:0000253") == "tRNA"
    assert canonical("transfer RNA") == "tRNA"
    assert canonical("16S_rRNA") == "rRNA_16S"
    assert canonical("ncRNA-region") == "regulatory_region"
    assert canonical("cds") == "CDS"
    assert canonical("Some_New_Type") == "some_new_type"


def test_naming_a_container_type_still_takes_all_its_rows(tmp_path):
    # 'ncRNA_gene' named literally takes Ensembl's ncRNA genes of every biotype (tRNA, rRNA,
    # tmRNA, ncRNA); named as 'ncRNA' it takes only the ncRNA-biotype ones (and tmRNA)
    catalog = Catalog(
        "t",
        concepts=[
            ConceptSpec("loci", "loci", select=[Select(feature=["ncRNA_gene"])]),
            ConceptSpec("nc", "nc", select=[Select(feature=["ncRNA"])]),
        ],
    )
    tracks = build("ensembl_bacteria.gff3", tmp_path, catalog=catalog)
    assert elements(tracks, "loci") == [
        (1450, 1850, "+"),
        (2100, 2463, "-"),
        (2500, 2684, "+"),
        (3300, 3374, "-"),
    ]
    assert elements(tracks, "nc") == [(2100, 2463, "-"), (2500, 2684, "+")]


def test_origin_still_selects_annotator_rows_in_any_spelling(tmp_path):
    table = gi.io.read_annotations(DIALECTS / "prokka.gff3").df
    table[names.ANNOTATOR] = table[names.FEATURE].map({"tRNA": "aragorn"})
    catalog = Catalog(
        "t",
        concepts=[
            ConceptSpec("from_aragorn", "t", select=[Select(["transfer_RNA"], origin=["aragorn"])]),
            ConceptSpec("curated", "t", select=[Select(["tRNA"], origin=["curated"])]),
        ],
    )
    tracks = build("prokka.gff3", tmp_path, catalog=catalog, annotations=table)
    assert elements(tracks, "from_aragorn") == GENES["trna"]
    assert elements(tracks, "curated") == []
    assert empty_concept_hint(catalog["curated"], table) == (
        "2 rows typed tRNA are not of origin 'curated' (prokka.gff3:7, prokka.gff3:15); "
        "select them with - {feature: [tRNA]}."
    )


def hint_for(clauses, name):
    spec = ConceptSpec("c", "c", select=clauses)
    return empty_concept_hint(spec, gi.io.read_annotations(DIALECTS / name).df)


def take(hint: str) -> Select:
    """The clause a hint proposes, read back as YAML."""
    (clause,) = yaml.safe_load(hint.rsplit(" with ", 1)[1].rstrip("."))
    return Select(**clause)


def test_hint_names_rows_a_source_filter_dropped():
    hint = hint_for([Select(["tRNA"], source=["tRNAscan-SE"])], "prokka.gff3")
    assert hint == (
        "2 rows typed tRNA come from source 'Aragorn:001002', not 'tRNAscan-SE' "
        "(prokka.gff3:7, prokka.gff3:15); select them with - {feature: [tRNA]}."
    )


def test_hint_finds_the_pattern_in_another_attribute():
    # Ensembl gives rRNA genes no product; the name says which rRNA it is
    hint = hint_for([Select(["rRNA"], where={"product": "^rrs"})], "ensembl_bacteria.gff3")
    assert hint == (
        "1 row typed rRNA_gene has Name (not product) matching '^rrs' "
        '(ensembl_bacteria.gff3:24); select it with - {feature: [rRNA], where: {Name: "^rrs"}}.'
    )


def test_hint_reports_filtered_rows_it_cannot_rescue():
    hint = hint_for([Select(["rRNA"], where={"product": "18S"})], "prokka.gff3")
    assert hint == (
        "3 rows typed rRNA (prokka.gff3:8, prokka.gff3:9, prokka.gff3:10) were dropped by where "
        "product: '18S' (theirs: '16S ribosomal RNA', '23S ribosomal RNA', '5S ribosomal RNA')."
    )


def test_hint_names_a_misspelled_type(tmp_path):
    gff = tmp_path / "typo.gff3"
    gff.write_text(
        "##gff-version 3\n"
        "contig_1\tx\tt-RNA\t801\t876\t.\t+\t.\tID=a;product=Ala\n"
        "contig_1\tx\tt-RNA\t3301\t3374\t.\t-\t.\tID=b;product=Gly\n"
        "contig_1\tx\tCDS\t101\t700\t.\t+\t0\tID=c\n"
    )
    spec = ConceptSpec("trna", "tRNA", select=[Select(["tRNA"])])
    table = gi.io.read_annotations(gff).df
    hint = empty_concept_hint(spec, table)
    assert hint == (
        "2 rows typed t-RNA (typo.gff3:2, typo.gff3:3) are spelled like 'tRNA'; "
        "select them with - {feature: [t-RNA]}."
    )


def test_hint_names_rows_whose_product_says_trna_and_its_clause_takes_them(tmp_path):
    table = gi.io.read_annotations(DIALECTS / "hint_case.gff3").df
    trna = gi.concepts.load_catalog("prokaryote")["trna"]
    hint = empty_concept_hint(trna, table)
    # the gene rows, not their exons, and not the CDS whose product is 'alanine--tRNA ligase'
    assert hint == (
        "2 rows typed gene have product matching 'tRNA' (hint_case.gff3:7, hint_case.gff3:9); "
        'select them with - {feature: [gene], where: {product: "^tRNA"}}.'
    )
    fixed = ConceptSpec("trna", "tRNA", select=[*trna.select, take(hint)])
    tracks = build("hint_case.gff3", tmp_path, catalog=Catalog("t", concepts=[fixed]))
    assert elements(tracks, "trna") == GENES["trna"]


def test_nothing_alike_gives_no_hint():
    spacer = gi.concepts.load_catalog("prokaryote")["crispr_spacer"]
    assert hint_for(spacer.select, "ncbi_refseq.gff3") == ""
    assert hint_for(spacer.select, "ensembl_bacteria.gff3") == ""


def test_build_warns_with_the_hint(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="genointerp.concepts"):
        tracks = build("hint_case.gff3", tmp_path, concepts=["trna", "crispr_spacer"])
    assert elements(tracks, "trna") == []
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "concept trna: no annotation rows matched; its track is empty. 2 rows typed gene have "
        "product matching 'tRNA' (hint_case.gff3:7, hint_case.gff3:9); select them with - "
        '{feature: [gene], where: {product: "^tRNA"}}.',
        "concept crispr_spacer: no annotation rows matched; its track is empty",
    ]
