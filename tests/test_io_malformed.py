"""Malformed input: every reader raises a one-line error naming file, line and fix, writing nothing.

Each bad file is built in ``tmp_path`` by the test itself.
"""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import pytest

import genointerp as gi
from genointerp.errors import AnnotationFormatError, ConfigError, GenomeFormatError


def _dna(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def _fasta(records: dict[str, str], width: int = 60) -> str:
    return "".join(
        f">{name}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
        for name, seq in records.items()
    )


def assert_message(exc: BaseException, path: Path, *phrases: str, line: int | None = None) -> None:
    """The message names the file, the line (when given), each key phrase and a fix."""
    message = str(exc)
    assert "\n" not in message, message
    assert str(path) in message, message
    if line is not None:
        assert re.search(rf"\bline {line}\b", message), message
    for phrase in phrases:
        assert re.search(phrase, message), f"{phrase!r} not in {message!r}"
    assert "Fix:" in message, message


def assert_nothing_written(cache: Path) -> None:
    """No packed genome and no ``.tmp-*`` leftovers: the cache folder is absent or empty."""
    assert not cache.exists() or not list(cache.iterdir()), list(cache.iterdir())


# -- FASTA / sequence input --------------------------------------------------------------

_PROTEIN = (
    "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDL"
    "HAHKLRVDPVNFKLLSHCLLVTLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR"
)


def _binary_with_nul() -> bytes:
    return b"\x89\x00\xff" + random.Random(1).randbytes(4000)


def _binary_high() -> bytes:
    rng = random.Random(2)
    return bytes(rng.randrange(128, 256) for _ in range(4000))


def _truncated_gzip_fasta() -> bytes:
    packed = gzip.compress(_fasta({"chr1": _dna(50_000)}).encode())
    return packed[: len(packed) // 2]


# id: (file name, content, [key phrases], line)
FASTA_CASES = {
    "empty-file": ("x.fa", b"", [r"file is empty"], None),
    "no-header": ("x.fa", b"ACGTACGT\nACGT\n", [r"not a FASTA header|before the first '>'"], 1),
    "binary-with-nul": ("x.fa", _binary_with_nul(), [r"binary data"], 1),
    "binary-high-bytes": ("x.fa", _binary_high(), [r"binary data"], 1),
    "duplicate-id": (
        "x.fa",
        b">a\nACGT\n>b\nGGCC\n>a\nTTTT\n",
        [r"duplicate sequence id 'a' \(first at line 1\)"],
        5,
    ),
    "empty-record-middle": (
        "x.fa",
        b">a\nACGT\n>b\n>c\nGGCC\n",
        [r"no sequence \(empty record\)", "'b'"],
        3,
    ),
    "empty-record-end": (
        "x.fa",
        b">a\nACGT\n>b\n\n",
        [r"no sequence \(empty record\)", "'b'"],
        3,
    ),
    "non-nucleotide-char": (
        "x.fa",
        b">a\nACGTACGT\nACGT#A\n",
        [r"non-nucleotide character '#'", "'a'"],
        3,
    ),
    "protein": (
        "x.fa",
        f">sp|P69905|HBA_HUMAN Hemoglobin subunit alpha\n{_PROTEIN}\n".encode(),
        [r"protein"],
        2,
    ),
    "truncated-gzip": ("x.fa.gz", _truncated_gzip_fasta(), [r"truncated or corrupt"], None),
    "gz-not-gzip": ("x.fa.gz", b">a\nACGT\n", [r"not gzip-compressed"], None),
}

OPENERS = {"Genome.open": gi.io.Genome.open, "read_fasta": gi.io.read_fasta}


@pytest.mark.parametrize("opener", OPENERS.values(), ids=OPENERS.keys())
@pytest.mark.parametrize(
    ("name", "content", "phrases", "line"), FASTA_CASES.values(), ids=FASTA_CASES.keys()
)
def test_malformed_fasta(tmp_path, opener, name, content, phrases, line):
    path = tmp_path / name
    path.write_bytes(content)
    cache = tmp_path / "cache"
    with pytest.raises(GenomeFormatError) as info:
        opener(path, cache_dir=cache)
    assert_message(info.value, path, *phrases, line=line)
    assert_nothing_written(cache)


def test_truncated_gzip_source_is_valid_when_whole(tmp_path):
    """The truncated-gzip case fails because of the cut, not because of its content."""
    path = tmp_path / "x.fa.gz"
    seq = _dna(50_000)
    path.write_bytes(gzip.compress(_fasta({"chr1": seq}).encode()))
    assert gi.io.read_fasta(path, cache_dir=tmp_path / "cache").fetch("chr1") == seq


def test_crlf_reads_like_lf(tmp_path):
    text = _fasta({"chr1": _dna(500, 1), "chr2": _dna(130, 2)})
    lf, crlf = tmp_path / "lf.fa", tmp_path / "crlf.fa"
    lf.write_bytes(text.encode())
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    a = gi.io.Genome.open(lf, cache_dir=tmp_path / "cache")
    b = gi.io.Genome.open(crlf, cache_dir=tmp_path / "cache")
    assert b.names == a.names == ["chr1", "chr2"]
    assert b.lengths == a.lengths == {"chr1": 500, "chr2": 130}
    assert [b.fetch(c) for c in b] == [a.fetch(c) for c in a]
    assert b.sequence_md5 == a.sequence_md5


def test_softmask_kept_as_intervals(tmp_path):
    path = tmp_path / "masked.fa"
    path.write_text(">chr1\nACGTacgt\nacGTNNac\n")
    genome = gi.io.read_fasta(path, cache_dir=tmp_path / "cache")
    assert genome.fetch("chr1") == "ACGTACGTACGTNNAC"
    assert genome.soft_mask("chr1").tolist() == [[4, 10], [14, 16]]


def test_iupac_codes_become_n_and_are_counted(tmp_path):
    path = tmp_path / "iupac.fa"
    path.write_text(">chr1\nACGTRYKM\nNNsw\n")
    genome = gi.io.read_fasta(path, cache_dir=tmp_path / "cache")
    assert genome.fetch("chr1") == "ACGTNNNNNNNN"
    row = genome.summary().iloc[0]
    assert (row["n_ambiguous"], row["n_unknown"]) == (6, 2)


# -- GFF3 -----------------------------------------------------------------------------------

_GFF_GOOD = (
    "##gff-version 3\n"
    "chr1\ttest\tgene\t1\t300\t.\t+\t.\tID=g1;Name=geneA\n"
    "chr1\ttest\tmRNA\t1\t300\t.\t+\t.\tID=m1;Parent=g1\n"
)
_GFF_BAD_LINE = 4

# id: (bad line, [key phrases])
GFF3_CASES = {
    "end-before-start": (
        "chr1\ttest\texon\t50\t10\t.\t+\t.\tID=e1",
        [r"end 10 is before start 50"],
    ),
    "start-zero": ("chr1\ttest\texon\t0\t10\t.\t+\t.\tID=e1", [r"start is 0", "1-based"]),
    "past-contig-end": (
        "chr1\ttest\texon\t990\t1200\t.\t+\t.\tID=e1",
        [r"chr1:990\.\.1200", "past the contig"],
    ),
    "unknown-seqid": (
        "chrZ\ttest\texon\t1\t10\t.\t+\t.\tID=e1",
        [r"contig 'chrZ' is not in the genome", r"alias", r"unknown_contigs='drop'"],
    ),
    "eight-columns": ("chr1\ttest\texon\t1\t10\t.\t+\t.", [r"has 8 tab-separated columns"]),
    "spaces-not-tabs": (
        "chr1 test exon 1 10 . + . ID=e1",
        [r"separated by spaces", "tabs"],
    ),
    "non-integer-coordinate": (
        "chr1\ttest\texon\tone\t10\t.\t+\t.\tID=e1",
        [r"start 'one' .*not an integer"],
    ),
    "bad-strand": ("chr1\ttest\texon\t1\t10\t.\tx\t.\tID=e1", [r"strand 'x'"]),
    "bad-phase": ("chr1\ttest\tCDS\t1\t10\t.\t+\t3\tID=c1", [r"phase '3'"]),
}


@pytest.fixture
def genome():
    return gi.io.Genome.from_sequences({"chr1": "ACGT" * 250})


def test_gff3_good_lines_read(tmp_path, genome):
    """The lines every malformed case starts with are valid on their own."""
    path = tmp_path / "good.gff3"
    path.write_text(_GFF_GOOD)
    table = gi.io.read_gff3(path, genome).df
    assert table["ID"].tolist() == ["g1", "m1"]
    assert table["Start"].tolist() == [0, 0]


@pytest.mark.parametrize(("bad", "phrases"), GFF3_CASES.values(), ids=GFF3_CASES.keys())
def test_malformed_gff3(tmp_path, genome, bad, phrases):
    path = tmp_path / "bad.gff3"
    path.write_text(_GFF_GOOD + bad + "\n" + _GFF_GOOD.splitlines()[1] + "\n")
    with pytest.raises(AnnotationFormatError) as info:
        gi.io.read_gff3(path, genome)
    assert_message(info.value, path, *phrases, line=_GFF_BAD_LINE)


def test_alias_resolves_unknown_seqid(tmp_path):
    seq = _dna(200)
    path = tmp_path / "aliased.gff3"
    path.write_text(
        "##gff-version 3\n"
        "chrA\ttest\tgene\t1\t100\t.\t+\t.\tID=g1\n"
        "chrZ\ttest\tgene\t1\t100\t.\t+\t.\tID=g2\n"
        "chrA\ttest\tgene\t101\t200\t.\t-\t.\tID=g3\n"
    )
    plain = gi.io.Genome.from_sequences({"NC_1.1": seq})
    with pytest.raises(AnnotationFormatError, match=r"line 2: contig 'chrA'"):
        gi.io.read_gff3(path, plain)

    aliased = gi.io.Genome.from_sequences({"NC_1.1": seq}, aliases={"NC_1.1": ["chrA"]})
    with pytest.raises(AnnotationFormatError, match=r"line 3: contig 'chrZ'"):
        gi.io.read_gff3(path, aliased)
    table = gi.io.read_gff3(path, aliased, unknown_contigs="drop").df
    assert table["ID"].tolist() == ["g1", "g3"]
    assert set(table["Chromosome"]) == {"NC_1.1"}


# -- GenBank --------------------------------------------------------------------------------


def _genbank_text() -> str:
    rng = random.Random(7)
    seq = "".join(rng.choice("acgt") for _ in range(200))
    origin = "".join(
        f"{i + 1:>9} " + " ".join(seq[j : j + 10] for j in range(i, min(i + 60, 200), 10)) + "\n"
        for i in range(0, 200, 60)
    )
    return (
        "LOCUS       TOY1                     200 bp    DNA     circular BCT 01-JAN-2024\n"
        "DEFINITION  Toy plasmid.\n"
        "ACCESSION   TOY1\n"
        "VERSION     TOY1.1\n"
        "FEATURES             Location/Qualifiers\n"
        "     source          1..200\n"
        '                     /organism="Escherichia coli"\n'
        "     gene            11..70\n"
        '                     /locus_tag="T001"\n'
        "     CDS             11..70\n"
        '                     /locus_tag="T001"\n'
        "                     /codon_start=1\n"
        "     gene            complement(101..190)\n"
        '                     /locus_tag="T002"\n'
        f"ORIGIN\n{origin}//\n"
    )


def test_genbank_whole_file_reads(tmp_path):
    """The text the truncation cases cut is a valid GenBank file."""
    path = tmp_path / "toy.gb"
    path.write_text(_genbank_text())
    genome = gi.io.Genome.open(path, cache_dir=tmp_path / "cache")
    assert genome.lengths == {"TOY1.1": 200} and genome.circular == {"TOY1.1": True}
    table = gi.io.read_genbank(path, genome).df
    assert table["Strand"].tolist() == ["+", "+", "-"]
    assert table["End"].tolist() == [70, 70, 190]


def _cut_mid_origin() -> bytes:
    text = _genbank_text()
    return text[: text.index("ORIGIN") + 100].encode()


def _truncated_gzip_genbank() -> bytes:
    packed = gzip.compress(_genbank_text().encode())
    return packed[: len(packed) // 2]


GENBANK_CASES = {
    "cut-mid-origin": ("toy.gb", _cut_mid_origin(), r"is truncated.*'//'"),
    "truncated-gzip": ("toy.gb.gz", _truncated_gzip_genbank(), r"truncated or corrupt"),
}


@pytest.mark.parametrize(
    ("name", "content", "phrase"), GENBANK_CASES.values(), ids=GENBANK_CASES.keys()
)
def test_truncated_genbank_sequence(tmp_path, name, content, phrase):
    path = tmp_path / name
    path.write_bytes(content)
    cache = tmp_path / "cache"
    with pytest.raises(GenomeFormatError) as info:
        gi.io.Genome.open(path, cache_dir=cache)
    assert_message(info.value, path, phrase)
    assert_nothing_written(cache)


@pytest.mark.parametrize(
    ("name", "content", "phrase"), GENBANK_CASES.values(), ids=GENBANK_CASES.keys()
)
def test_truncated_genbank_features(tmp_path, name, content, phrase):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AnnotationFormatError) as info:
        gi.io.read_genbank(path)
    assert_message(info.value, path, phrase)


# -- BED ------------------------------------------------------------------------------------

_BED_GOOD = "# intervals\nchr1\t0\t100\nchr1\t200\t300\n"

BED_CASES = {
    "negative-start": ("chr1\t-5\t10", [r"negative coordinate \(-5, 10\)"]),
    "end-before-start": ("chr1\t50\t10", [r"end 10 is before start 50"]),
    "non-integer-coordinate": ("chr1\t1.5\t10", [r"start '1\.5' .*not an integer"]),
    "varying-columns": ("chr1\t400\t500\tname", [r"has 4 columns but line 2 has 3"]),
}


@pytest.mark.parametrize(("bad", "phrases"), BED_CASES.values(), ids=BED_CASES.keys())
def test_malformed_bed(tmp_path, genome, bad, phrases):
    path = tmp_path / "bad.bed"
    path.write_text(_BED_GOOD + bad + "\n")
    with pytest.raises(AnnotationFormatError) as info:
        gi.io.read_bed(path, genome)
    assert_message(info.value, path, *phrases, line=4)


def test_bed_good_lines_read(tmp_path, genome):
    path = tmp_path / "good.bed"
    path.write_text(_BED_GOOD)
    assert gi.io.read_bed(path, genome).df["End"].tolist() == [100, 300]


# -- alias table ----------------------------------------------------------------------------


def test_alias_table_wrong_column_count(tmp_path):
    path = tmp_path / "aliases.tsv"
    path.write_text("# alias\tcontig\nchrA\tNC_1.1\nchrB\tNC_2.1\textra\n")
    with pytest.raises(ConfigError) as info:
        gi.io.read_alias_table(path)
    assert_message(info.value, path, r"3 tab-separated fields, expected 2", line=3)
    path.write_text("# alias\tcontig\nchrA\tNC_1.1\n")
    assert gi.io.read_alias_table(path) == {"NC_1.1": ["chrA"]}
