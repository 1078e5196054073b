"""Readers on well-formed input: coordinates, attributes, aliases, random access."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import genointerp as gi
from genointerp import names
from tests.conftest import DATA


def test_gff3_is_zero_based_explodes_multi_parent_and_decodes_attributes(tiny_gff3):
    table = gi.io.read_gff3(tiny_gff3).df
    exons = table[table[names.FEATURE] == "exon"]
    # 'exon 3..12 Parent=t1,t2' -> two rows [2, 12), one per transcript
    first = exons[exons[names.START] == 2]
    assert sorted(first[names.PARENT]) == ["t1", "t2"] and set(first[names.END]) == {12}
    assert len(exons) == 7
    gene = table[table[names.ID] == "g2"].iloc[0]
    assert gene[names.NAME] == "G2;minus"  # %3B decoded
    cds = table[table[names.ID] == "cds1"].sort_values(names.START)
    assert cds[names.PHASE].tolist() == [0, 2, 1]
    assert (table[names.LINE] > 3).all() and (table[names.FILE] == "tiny.gff3").all()


def test_gff3_fasta_section_is_the_genome(tiny_gff3, tmp_path):
    genome = gi.io.Genome.open(tiny_gff3, cache_dir=tmp_path)
    assert genome.lengths == {"chrT": 100}
    assert genome.fetch("chrT", 30, 36) == "GCACGA"
    assert genome.soft_mask("chrT").tolist() == [[30, 36]]


def test_genbank_features_compound_locations_and_topology(tmp_path):
    genome = gi.io.Genome.open(DATA / "tiny.gb", cache_dir=tmp_path)
    assert genome.lengths == {"TINY01.1": 60} and genome.circular == {"TINY01.1": True}
    assert genome.fetch("TINY01.1", 3, 6) == "ATG"
    table = gi.io.read_genbank(DATA / "tiny.gb", genome).df
    split = table[table[names.ID] == "CDS-T_0002"].sort_values(names.START)
    assert split[[names.START, names.END]].values.tolist() == [[20, 26], [30, 36]]
    assert set(split[names.STRAND]) == {"-"}
    origin = table[table[names.FEATURE] == "tRNA"].sort_values(names.START)
    assert origin[[names.START, names.END]].values.tolist() == [[0, 2], [54, 60]]
    assert table.loc[table[names.FEATURE] == "repeat_region", "rpt_family"].tolist() == ["REP"]


def test_bed_reader_and_aliases(tiny_gff3, tmp_path):
    genome = gi.io.Genome.open(
        tiny_gff3, cache_dir=tmp_path, aliases=gi.io.read_alias_table(DATA / "aliases.tsv")
    )
    bed = DATA / "tiny.bed"
    renamed = tmp_path / "renamed.bed"
    renamed.write_text(bed.read_text().replace("chrT", "NC_T.1"))
    table = gi.io.read_bed(renamed, genome).df.sort_values(names.START)
    assert table[names.CHROM].unique().tolist() == ["chrT"]
    assert table[[names.START, names.END, names.STRAND, names.NAME]].values.tolist() == [
        [2, 12, "+", "a"],
        [20, 30, "-", "b"],
        [40, 41, ".", "c"],
    ]
    assert genome.resolve("T") == genome.resolve("t") == "chrT"


def test_read_annotations_sniffs_each_format(tiny_gff3):
    table = gi.io.read_annotations([tiny_gff3, DATA / "tiny.bed"]).df
    assert set(table[names.FEATURE]) >= {"exon", "CDS", "bed"}


def test_gzip_and_plain_fasta_give_the_same_genome(tmp_path):
    rng = np.random.default_rng(1)
    seqs = {f"c{i}": "".join(rng.choice(list("ACGT"), size=n)) for i, n in enumerate((5, 1234))}
    text = "".join(
        f">{k} desc\n" + "\n".join(v[i : i + 70] for i in range(0, len(v), 70)) + "\n"
        for k, v in seqs.items()
    )
    plain, packed = tmp_path / "g.fa", tmp_path / "g.fa.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    a = gi.io.read_fasta(plain, cache_dir=tmp_path / "cache")
    b = gi.io.read_fasta(packed, cache_dir=tmp_path / "cache")
    assert a.checksum == b.checksum
    for name, seq in seqs.items():
        assert a.fetch(name) == seq and b.fetch(name, 2, len(seq) - 1) == seq[2:-1]


def test_fetch_outside_a_contig_is_an_error():
    genome = gi.io.Genome.from_sequences({"a": "ACGT"})
    with pytest.raises(IndexError, match="outside the contig"):
        genome.fetch("a", 2, 5)
    with pytest.raises(gi.errors.ContigNameError, match="contig 'b' is not in the genome"):
        genome.fetch("b")


def test_real_genome_random_access_and_checksums_match_manifests(mirror):
    for name in ("ecoli_k12", "arabidopsis_thaliana_1pct", "streptococcus_pyogenes_m1"):
        dataset = gi.datasets.load(name)
        genome = dataset.genome()
        spec = dataset.manifest.file(dataset.manifest.genome)
        assert genome.sequence_md5 == spec.sequence_md5
        assert genome.lengths == {c: s.length for c, s in dataset.manifest.contigs.items()}
    ecoli = gi.datasets.load("ecoli_k12").genome()
    # NC_000913.3 starts with the thrL leader: AGCTTTTCATTCTGACTGCAACGGGCAATATGTC
    assert ecoli.fetch("U00096.3", 0, 34) == "AGCTTTTCATTCTGACTGCAACGGGCAATATGTC"
    assert ecoli.circular == {"NC_000913.3": True}


def test_aliases_match_versionless_accessions_but_never_another_version():
    aliases = gi.io.ContigAliases(["NC_000913.3", "chr2"])
    assert aliases.get("NC_000913") == aliases.get("nc_000913.3") == "NC_000913.3"
    assert aliases.get("NC_000913.2") is None
    assert aliases.get("2") == aliases.get("CHR2") == "chr2"
