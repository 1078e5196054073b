"""Browser exports, read back by independent readers: pyBigWig for bigWig and bigBed,
pyranges for BED, py2bit for .2bit, xml.etree for the IGV session, plain parsing for the hub.

Every expectation is recomputed from the run's own files (the feature-activation file, the
catalog, the genome), not from the exporter's intermediate results.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pyranges as pr
import pytest

import genointerp as gi
from genointerp.cli import main

RENAMED = {"chrA": "NC_000001.1", "chrB": "ctg2"}


@pytest.fixture(scope="module")
def exported(small_run, tmp_path_factory):
    """The default export of the small run (with bedGraphs)."""
    out = tmp_path_factory.mktemp("export") / "tracks"
    return gi.export.export_run(small_run, out, bedgraph=True)


@pytest.fixture(scope="module")
def renamed(small_run, tmp_path_factory):
    """An export of the planted feature with contigs renamed by an alias table."""
    folder = tmp_path_factory.mktemp("renamed")
    table = folder / "aliases.tsv"
    table.write_text("".join(f"{new}\t{old}\n" for old, new in RENAMED.items()))
    return gi.export.export_run(
        small_run, folder / "tracks", features=[_planted(small_run), 0], contig_names=table
    )


def _planted(run: Path) -> int:
    """The feature the fixture annotated on purpose (a known one)."""
    return int(json.loads((run / "run.json").read_text())["planted_feature"])


def _catalog(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "catalog" / "catalog.tsv", sep="\t").set_index("feature")


def _sites_from_dense(fa, feature: int, threshold: float) -> pd.DataFrame:
    """Runs of positions with activation >= threshold, per contig and strand, directly."""
    rows = []
    for contig in fa.contigs:
        for strand in fa.strands:
            values = fa.dense(contig, strand, features=[feature])[:, 0]
            on = np.concatenate([[0], ((values > 0) & (values >= threshold)).astype(np.int8), [0]])
            starts = np.flatnonzero(np.diff(on) == 1)
            ends = np.flatnonzero(np.diff(on) == -1)
            rows += [
                (contig, int(s), int(e), strand, float(values[s:e].max()))
                for s, e in zip(starts, ends, strict=True)
            ]
    columns = ["Chromosome", "Start", "End", "Strand", "max"]
    return (
        pd.DataFrame(rows, columns=columns)
        .sort_values(["Chromosome", "Start", "Strand"])
        .reset_index(drop=True)
    )


def test_default_selection_is_the_best_known_and_candidate_features(exported, small_run):
    """One feature per family (its best member), best first; all of them on request."""

    def best_first(catalog):
        known = catalog[catalog["class"] == "known"]
        novel = catalog[catalog["class"] == "candidate_novel"]
        known = known.sort_values("test_element_f1", ascending=False)
        novel = novel.sort_values("novelty", ascending=False)
        return known["feature"].head(50).tolist() + novel["feature"].head(50).tolist()

    catalog = _catalog(small_run).reset_index()
    leaders = best_first(catalog[catalog["family_best"]])
    everyone = best_first(catalog)
    assert 1 <= len(leaders) < len(everyone) and len(everyone) >= 3  # copies left out
    assert exported.features["feature"].tolist() == leaders
    index = gi.export.read_tracks_json(exported.folder)
    assert [f["feature"] for f in index["features"]] == leaders
    table = gi.export.read_catalog(small_run / "catalog" / "catalog.tsv")
    chosen = gi.export.select_features(table, per_family=False)
    assert chosen["feature"].tolist() == everyone
    assert set(chosen["class"]) == {"known", "candidate_novel"}


def test_bigwig_equals_the_stored_activations(exported, small_run):
    rng = np.random.default_rng(0)
    fa = gi.features.FeatureActivations(small_run / "features.h5")
    for feature in exported.features["feature"].head(4):
        for strand, name in (("+", "plus"), ("-", "minus")):
            bw = pyBigWig.open(str(exported.folder / "features" / f"f{feature}.{name}.bw"))
            assert bw.chroms() == fa.contigs
            for contig, length in fa.contigs.items():
                stored = fa.dense(contig, strand, features=[feature])[:, 0]
                got = np.nan_to_num(np.array(bw.values(contig, 0, length)), nan=0.0)
                at = rng.integers(0, length, 1000)
                np.testing.assert_array_equal(got[at], stored[at])  # 1,000 random positions
                np.testing.assert_array_equal(got, stored)  # and every other one
            bw.close()
    fa.close()


def test_bedgraph_holds_the_same_runs_as_the_bigwig(exported):
    feature = int(exported.features["feature"].iloc[0])
    path = exported.folder / "features" / f"f{feature}.minus.bedGraph"
    table = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=["chrom", "start", "end", "value"],
        float_precision="round_trip",
    )
    bw = pyBigWig.open(str(path.with_suffix(".bw")))
    for contig, group in table.groupby("chrom"):
        intervals = bw.intervals(contig)
        assert [(s, e) for s, e, _ in intervals] == list(
            zip(group["start"], group["end"], strict=True)
        )
        np.testing.assert_array_equal([v for *_, v in intervals], group["value"].to_numpy())
    bw.close()


def test_bed_sites_are_the_runs_above_the_alignment_threshold(exported, small_run):
    catalog = _catalog(small_run)
    fa = gi.features.FeatureActivations(small_run / "features.h5")
    for feature in exported.features["feature"]:
        row = catalog.loc[feature]
        # the alignment's cut: float32(fraction) x the feature's max (fraction 0: any > 0)
        threshold = np.float32(row["fraction"]) * np.float32(fa.stats.max[feature])
        expect = _sites_from_dense(fa, feature, threshold)
        path = exported.folder / "features" / f"f{feature}.bed"
        assert not path.read_text().startswith("track")
        got = pr.read_bed(str(path)).df
        got["Chromosome"] = got["Chromosome"].astype(str)
        got["Strand"] = got["Strand"].astype(str)
        got = got.sort_values(["Chromosome", "Start", "Strand"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            got[["Chromosome", "Start", "End", "Strand"]],
            expect[["Chromosome", "Start", "End", "Strand"]],
            check_dtype=False,
        )
        score = np.clip(np.rint(expect["max"] / fa.stats.max[feature] * 1000), 0, 1000)
        np.testing.assert_array_equal(got["Score"], score.astype(int))
        assert set(got["Name"]) <= {f"f{feature}|{row['best_concept']}"}
        colour = {"known": "27,120,55", "candidate_novel": "217,95,2"}[row["class"]]
        assert set(got["ItemRGB"]) <= {colour}
    fa.close()


def test_class_files_hold_every_selected_site(exported):
    for cls, group in exported.features.groupby("class"):
        # bigBed only: the per-feature BEDs already hold the same sites as text
        assert not (exported.folder / "features" / f"{cls}.bed").exists()
        bb = pyBigWig.open(str(exported.folder / "features" / f"{cls}.bb"))
        rows = [
            (chrom, s, e, *rest.split("\t"))
            for chrom, length in bb.chroms().items()
            for s, e, rest in bb.entries(chrom, 0, length) or []
        ]
        own = pd.concat(
            pr.read_bed(str(exported.folder / "features" / f"f{f}.bed")).df
            for f, n in zip(group["feature"], group["n_sites"], strict=True)
            if n
        )
        assert len(rows) == group["n_sites"].sum() == len(own)
        assert sorted((r[0], r[1], r[2], r[3]) for r in rows) == sorted(
            zip(own["Chromosome"], own["Start"], own["End"], own["Name"], strict=True)
        )
        names = {r[3].split("|")[0] for r in rows}
        assert names == {
            f"f{f}" for f, n in zip(group["feature"], group["n_sites"], strict=True) if n
        }


def test_bigbeds_equal_their_beds(exported):
    beds = sorted((exported.folder / "features").glob("*.bed"))
    beds += sorted((exported.folder / "concepts").glob("*.bed"))
    checked = 0
    for bed in beds:
        lines = [line.split("\t") for line in bed.read_text().splitlines()]
        if not lines:
            continue
        bb = pyBigWig.open(str(bed.with_suffix(".bb")))
        assert bb.isBigBed()
        got = [
            [chrom, str(s), str(e), *rest.split("\t")]
            for chrom, length in bb.chroms().items()
            for s, e, rest in bb.entries(chrom, 0, length) or []
        ]
        assert sorted(got) == sorted(lines), bed.name
        bb.close()
        checked += 1
    assert checked > 10


def test_genome_files_equal_the_genome(exported, small_run):
    genome = gi._rundir.RunDir(small_run).genome()
    files = exported.genome
    sizes = dict(line.split("\t") for line in files.chrom_sizes.read_text().splitlines())
    assert {c: int(n) for c, n in sizes.items()} == genome.lengths
    import py2bit

    twobit = py2bit.open(str(files.twobit))
    assert twobit.chroms() == genome.lengths
    with open(files.fasta, "rb") as fasta:
        for line in files.fai.read_text().splitlines():
            name, length, offset, bases, width = line.split("\t")
            assert twobit.sequence(name) == genome.fetch(name)
            fasta.seek(int(offset))
            text = fasta.read(int(length) // int(bases) * int(width) + int(bases)).decode()
            assert text.replace("\n", "")[: int(length)] == genome.fetch(name)
    twobit.close()


def test_twobit_keeps_n_runs_and_soft_masking(tmp_path):
    import py2bit

    seq = {"a": "ACGTNNNNacgtTTGGnCA", "b": "N" * 9 + "GATTACA" + "n" * 5, "c": "A"}
    genome = gi.io.Genome.from_sequences(seq)
    path = gi.export.write_twobit(genome, tmp_path / "g.2bit", {"a": "chr1"})
    twobit = py2bit.open(str(path), True)  # keep the soft mask: lower case comes back
    assert twobit.chroms() == {"chr1": 19, "b": 21, "c": 1}
    for name, original in (("chr1", seq["a"]), ("b", seq["b"]), ("c", seq["c"])):
        assert twobit.sequence(name) == original.replace("n", "N")  # py2bit writes N as N
    assert twobit.hardMaskedBlocks("chr1") == [(4, 8), (16, 17)]
    assert twobit.softMaskedBlocks("chr1") == [(8, 12), (16, 17)]
    assert twobit.hardMaskedBlocks("b") == [(0, 9), (16, 21)]
    twobit.close()


def test_igv_session_parses_and_every_path_exists(exported):
    path = exported.igv_session
    session = ET.parse(path).getroot()
    assert (
        session.tag == "Session"
        and session.get("locus") == gi.export.read_tracks_json(exported.folder)["default_locus"]
    )
    assert (path.parent / session.get("genome")).is_file()
    resources = [r.get("path") for r in session.iter("Resource")]
    tracks = [t.get("id") for t in session.iter("Track")]
    assert sorted(resources) == sorted(tracks) and len(set(resources)) == len(resources)
    assert all((path.parent / p).is_file() for p in resources)
    assert any(p.endswith(".bw") for p in resources) and "features/known.bb" in resources


def _stanzas(path: Path) -> list[dict]:
    stanzas, current = [], {}
    for line in [*path.read_text().splitlines(), ""]:
        if not line.strip():
            if current:
                stanzas.append(current)
            current = {}
            continue
        key, value = line.split(" ", 1)
        assert key not in current, f"{path}: {key} twice in one stanza"
        current[key] = value
    return stanzas


def test_hub_files_parse_and_every_path_exists(exported):
    hub_txt = exported.hub
    (hub,) = _stanzas(hub_txt)
    assert {"hub", "shortLabel", "longLabel", "genomesFile", "email"} <= set(hub)
    genomes_txt = hub_txt.parent / hub["genomesFile"]
    (genome,) = _stanzas(genomes_txt)
    for key in ("twoBitPath", "chromSizes", "trackDb"):
        assert (genomes_txt.parent / genome[key]).is_file(), key
    assert genome["defaultPos"] == gi.export.read_tracks_json(exported.folder)["default_locus"]
    trackdb = genomes_txt.parent / genome["trackDb"]
    tracks = _stanzas(trackdb)
    names = [t["track"] for t in tracks]
    assert len(set(names)) == len(names)
    for track in tracks:
        assert len(track["shortLabel"]) <= 17 and len(track["longLabel"]) <= 80
        assert track.get("parent", names[0]) in names
        if "bigDataUrl" in track:
            assert (trackdb.parent / track["bigDataUrl"]).is_file(), track["bigDataUrl"]
            assert track["type"].split()[0] == (
                "bigWig" if track["bigDataUrl"].endswith(".bw") else "bigBed"
            )
    assert sum("bigDataUrl" in t for t in tracks) >= len(exported.features) * 3


def test_tracks_json_lists_existing_files_in_the_contract_shape(exported):
    index = gi.export.read_tracks_json(exported.folder)
    assert index["format"] == "genointerp-tracks" and index["version"] == "0.1.0"
    for key in ("fasta", "fai", "twobit", "chrom_sizes"):
        assert (exported.folder / index["genome"][key]).is_file()
    assert [c["name"] for c in index["genome"]["contigs"]] == ["chrA", "chrB"]
    keys = {"id", "name", "group", "format", "path", "feature", "class", "concept", "strand"}
    for track in index["tracks"]:
        assert keys | {"color"} == set(track)
        assert (exported.folder / track["path"]).is_file()
        assert track["group"] in ("annotation", "concept", "feature", "feature_set")
    groups = {t["group"] for t in index["tracks"]}
    assert groups == {"annotation", "concept", "feature", "feature_set"}
    feature = index["features"][0]
    assert feature["top_sites"] and feature["threshold"] >= 0
    assert not list(exported.folder.rglob(".tmp-*"))  # scratch folders included


def test_renamed_contigs_are_used_in_every_file(renamed):
    folder = renamed.folder
    new = set(RENAMED.values())
    index = gi.export.read_tracks_json(folder)
    assert {c["name"] for c in index["genome"]["contigs"]} == new
    assert index["default_locus"].split(":")[0] in new
    assert {s["contig"] for f in index["features"] for s in f["top_sites"]} <= new
    assert {
        line.split("\t")[0] for line in renamed.genome.chrom_sizes.read_text().splitlines()
    } == new
    assert {line.split("\t")[0] for line in renamed.genome.fai.read_text().splitlines()} == new
    assert {
        line[1:] for line in renamed.genome.fasta.read_text().splitlines() if line[0] == ">"
    } == new
    import py2bit

    assert set(py2bit.open(str(renamed.genome.twobit)).chroms()) == new
    alias = [line.split("\t") for line in renamed.genome.chrom_alias.read_text().splitlines()]
    assert alias[0][0].startswith("#") and {row[0]: row[1] for row in alias[1:]} == {
        v: k for k, v in RENAMED.items()
    }
    for bed in folder.rglob("*.bed"):
        assert {line.split("\t")[0] for line in bed.read_text().splitlines()} <= new, bed
    seen = set()
    for big in [*folder.rglob("*.bw"), *folder.rglob("*.bb")]:
        handle = pyBigWig.open(str(big))  # (pybigtools lists only the contigs with data)
        assert set(handle.chroms()) <= new, big
        seen |= set(handle.chroms())
        handle.close()
    assert seen == new
    session = ET.parse(renamed.igv_session).getroot()
    assert session.get("locus").split(":")[0] in new


def test_contig_naming_styles():
    lengths = {"NC_000913.3": 10, "2": 5, "chrM": 3}
    aliases = {"NC_000913.3": ["U00096.3", "chrEco"], "2": ["CP000002"]}
    choose = gi.export.ContigNames.choose
    assert choose(lengths, aliases, "chr").names == {
        "NC_000913.3": "chrEco",
        "2": "chr2",
        "chrM": "chrM",
    }
    assert choose(lengths, aliases, "accession").names == {
        "NC_000913.3": "U00096.3",
        "2": "CP000002",
        "chrM": "chrM",
    }
    assert choose(lengths, aliases, {"2": "two"}).names["2"] == "two"
    with pytest.raises(gi.errors.GenointerpError, match="would both be named"):
        choose(lengths, aliases, {"2": "chrM"})
    with pytest.raises(gi.errors.GenointerpError, match="neither one of"):
        choose(lengths, aliases, "ucsc")


def test_regions_restrict_sites_and_activations(small_run, tmp_path):
    out, feature = tmp_path / "tracks", _planted(small_run)
    result = gi.export.export_run(
        small_run, out, features=[feature], regions=["chrA:2001-5000", "chrB"]
    )
    sites = pr.read_bed(str(out / "features" / f"f{feature}.bed")).df
    inside = (sites["Chromosome"] == "chrA") & (sites["Start"] >= 2000) & (sites["End"] <= 5000)
    assert len(sites) and (inside | (sites["Chromosome"] == "chrB")).all()
    fa = gi.features.FeatureActivations(small_run / "features.h5")
    bw = pyBigWig.open(str(out / "features" / f"f{feature}.plus.bw"))
    values = np.nan_to_num(np.array(bw.values("chrA", 0, 12_000)), nan=0.0)
    stored = fa.dense("chrA", "+", features=[feature])[:, 0]
    np.testing.assert_array_equal(values[2000:5000], stored[2000:5000])
    assert not values[:2000].any() and not values[5000:].any() and stored[:2000].any()
    fa.close()
    assert result.index.is_file()


def test_block_size_does_not_change_the_sites(small_run, tmp_path, monkeypatch):
    """Sites merged across block edges (97 positions a block) and BEDs merged in small windows
    (a few sites each) equal those of one block per contig and one window."""
    from genointerp.export import _sites

    fa = gi.features.FeatureActivations(small_run / "features.h5")
    wanted = [_planted(small_run), 0]
    catalog = gi.export.read_catalog(small_run / "catalog")
    rows = gi.export.select_features(catalog, features=wanted)
    large = gi.export.feature_tracks(fa, rows, tmp_path / "large", bigwig=False, bigbed=False)
    monkeypatch.setattr(_sites, "WINDOW_ROWS", 3)
    small = gi.export.feature_tracks(fa, rows, tmp_path / "small", block_rows=97, bigbed=False)
    for feature in wanted:
        assert small.features[feature].bed.read_text() == large.features[feature].bed.read_text()
        assert small.features[feature].n_sites > 0
    sets = [small.sets[c][0].read_text() == large.sets[c][0].read_text() for c in large.sets]
    assert sets and all(sets)
    fa.close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"features": [10_000]}, "no feature 10000"),
        ({"classes": ["famous"]}, "unknown feature class 'famous'"),
        ({"regions": ["chrA:10-"]}, "is not contig:start-end"),
        ({"regions": ["chrA:1-99999"]}, "outside contig 'chrA'"),
        ({"regions": ["chrZ:1-10"]}, "contig 'chrZ' is not in the genome"),
    ],
)
def test_bad_selections_name_the_problem_and_the_fix(small_run, tmp_path, kwargs, message):
    with pytest.raises(gi.errors.GenointerpError, match=message) as info:
        gi.export.export_run(small_run, tmp_path / "out", **kwargs)
    assert "Fix:" in str(info.value)
    assert not (tmp_path / "out" / "tracks.json").exists()


def test_missing_catalog_names_the_file_and_the_command(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(
        gi.errors.GenointerpError, match=r"catalog\.tsv: no feature catalog"
    ) as info:
        gi.export.export_run(run)
    assert "genointerp rank" in str(info.value)


def test_cli_export_writes_the_chosen_features(small_run, tmp_path, capsys):
    out = tmp_path / "cli"
    feature = _planted(small_run)
    args = ["export", str(small_run), "-o", str(out), "--features", str(feature), "--no-bigwig"]
    assert main(args) == 0
    assert "IGV session" in capsys.readouterr().out
    index = gi.export.read_tracks_json(out)
    assert [f["feature"] for f in index["features"]] == [feature]
    assert not [t for t in index["tracks"] if t["format"] == "bigwig"]
    with pytest.raises(SystemExit):
        main(["export", str(small_run), "-o", str(out), "--features", "x"])


def test_codon_position_rows_are_sorted_by_their_first_position(tmp_path):
    from tests.test_align import make_tracks

    # part a covers 102, 105, ... (frame 0); part b, one nt later, covers 101, 104, ...
    rows = [("codon", "c", 100, 130, "+", "a", 0), ("codon", "c", 101, 131, "+", "b", 2)]
    bed = gi.export.concept_beds(make_tracks(rows, {"c": 1000}), tmp_path)[0]
    lines = [line.split("\t") for line in bed.read_text().splitlines()]
    assert [(row[3], int(row[1])) for row in lines] == [("b", 101), ("a", 102)]
    bb = pyBigWig.open(str(gi.export.bed_to_bigbed(bed, {"c": 1000})))
    assert [(s, e) for s, e, _ in bb.entries("c", 0, 1000)] == [(101, 129), (102, 130)]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("c", 0, 10, 1.0), ("c", 5, 20, 2.0)], "out of order or overlaps"),
        ([("c", 90, 120, 1.0)], "past c's end"),
        ([("c", 0, 10, 1.0), ("d", 0, 5, 1.0), ("c", 20, 30, 1.0)], "apart from its other rows"),
    ],
)
def test_bad_rows_never_leave_an_unreadable_bigwig(tmp_path, rows, message):
    path = tmp_path / "x.bw"
    with pytest.raises(gi.errors.GenointerpError, match=message):
        gi.export.write_bigwig(path, {"c": 100, "d": 100}, rows)
    assert list(tmp_path.iterdir()) == []


def test_features_of_another_contig_order_are_refused(run_copy, tmp_path):
    genome = gi.io.Genome.open(run_copy / "genome.fa")
    swapped = tmp_path / "swapped.fa"
    swapped.write_text("".join(f">{c}\n{genome.fetch(c)}\n" for c in reversed(genome.names)))
    gi.io.write_run_info(run_copy, genome=str(swapped))
    with pytest.raises(gi.errors.GenointerpError, match="same order and lengths"):
        gi.export.export_run(run_copy, n_known=1, n_novel=1)
