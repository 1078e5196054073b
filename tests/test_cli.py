"""The command line: every stage listed, honest stubs, one-line errors, working stages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import genointerp as gi
from genointerp.cli import EXIT_ERROR, main
from tests.conftest import DATA

STAGES = [
    "data",
    "concepts",
    "lm",
    "extract",
    "acts",
    "sae",
    "features",
    "align",
    "rank",
    "export",
    "report",
    "demo",
]


def test_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for stage in STAGES:
        assert f"    {stage} " in text


def test_export_of_a_missing_run_says_so_and_exits_non_zero(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "no such run folder" in err and "Fix:" in err


def test_bad_input_prints_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genointerp",
            "concepts",
            "build",
            "--genome",
            str(bad),
            "--annotations",
            str(DATA / "tiny.bed"),
            "--catalog",
            "prokaryote",
            "-o",
            str(tmp_path / "out.h5"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "bad.fa" in lines[0] and "Fix:" in lines[0]
    assert not (tmp_path / "out.h5").exists()


def build_concepts(annotations, catalog, out, *extra) -> int:
    """`genointerp concepts build` on the tiny test genome."""
    return main(
        [
            "concepts",
            "build",
            "--genome",
            str(DATA / "tiny.gff3"),
            "--annotations",
            str(annotations),
            "--catalog",
            str(catalog),
            "-o",
            str(out),
            *extra,
        ]
    )


BAD_INPUTS = {
    "gff3_end_before_start": (
        "g.gff3",
        "##gff-version 3\nchrT\tx\tCDS\t9\t3\t.\t+\t0\tID=a\n",
        "line 2: end 3 is before start 9",
    ),
    "bed_negative": ("g.bed", "chrT\t-1\t5\n", "line 1: negative coordinate"),
    "catalog_unknown_key": (
        "c.yaml",
        "catalog: c\nconcepts: []\nconcept: []\n",
        "line 3: unknown key 'concept'",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_annotation_or_catalog_leaves_no_output(tmp_path, capsys, case):
    name, text, expected = BAD_INPUTS[case]
    bad = tmp_path / name
    bad.write_text(text)
    annotations, catalog = (
        (str(bad), "eukaryote") if name != "c.yaml" else (str(DATA / "tiny.bed"), str(bad))
    )
    out = tmp_path / "out" / "tracks.h5"
    assert build_concepts(annotations, catalog, out) == 1
    err = capsys.readouterr().err
    assert expected in err and name in err and "Fix:" in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_concepts_build_and_bed_from_files(tmp_path, capsys):
    out = tmp_path / "tracks.h5"
    assert (
        build_concepts(DATA / "tiny.gff3", "eukaryote", out, "--concepts", "exon,splice_donor") == 0
    )
    assert main(["concepts", "bed", str(out), "-o", str(tmp_path / "bed")]) == 0
    assert sorted(p.name for p in (tmp_path / "bed").iterdir()) == ["exon.bed", "splice_donor.bed"]
    donors = (tmp_path / "bed" / "splice_donor.bed").read_text().splitlines()
    assert len(donors) == 3 and not donors[0].startswith("track")  # no track line by default
    args = ["concepts", "bed", str(out), "-o", str(tmp_path / "bed2"), "--track-line"]
    assert main(args) == 0
    with_header = (tmp_path / "bed2" / "splice_donor.bed").read_text().splitlines()
    assert with_header[0].startswith('track name="splice_donor"') and with_header[1:] == donors


def test_data_list_and_path(mirror, capsys):
    assert main(["data", "list"]) == 0
    assert "ecoli_k12" in capsys.readouterr().out
    assert main(["data", "path", "ecoli_k12"]) == 0
    assert capsys.readouterr().out.strip().endswith("ecoli_k12_MG1655_NC_000913.3.fna.gz")


@pytest.mark.slow
def test_demo_runs_on_ecoli(mirror, tmp_path, capsys):
    assert (
        main(
            [
                "demo",
                "-o",
                str(tmp_path / "demo"),
                "--sae-tokens",
                "524288",
                "--sae-expansion",
                "4",
                "--shifts",
                "50",
                "--tests",
                "10",
                "--set",
                "export.n_known=5",
                "--set",
                "export.n_novel=5",
            ]
        )
        == 0
    )
    assert (tmp_path / "demo" / "concepts.h5").is_file()
    summary = (tmp_path / "demo" / "concepts_summary.tsv").read_text()
    assert "\ntrna\t" in summary
    n_concepts = len(gi.concepts.load_catalog("prokaryote").concepts)  # curated, annotators, motifs
    assert n_concepts >= 38 and "\nterminator\t" in summary and "\nchi_site\t" in summary
    assert len(list((tmp_path / "demo" / "bed").glob("*.bed"))) == n_concepts
    with gi.acts.ActivationStore(tmp_path / "demo" / "activations.h5") as store:
        assert store.complete and store.n_positions == 2 * 4_641_652
        assert store.model_id.startswith("tiny:genointerp-tiny")
        x = store.read(store.layers[0], "NC_000913.3", "-", 1_000_000, 1_001_000)
        assert x.shape == (1000, store.d_model) and np.isfinite(x).all()
        assert x.astype(np.float64).std() > 0.1
        model_id, layer = store.model_id, store.layers[0]
    sae, provenance = gi.sae.load_sae(tmp_path / "demo" / "sae", model_id=model_id, layer=layer)
    assert sae.d_sae == 4 * 96 and provenance.tokens == 524288
    printed = capsys.readouterr().out
    assert "sae on ecoli_k12: FVU" in printed
    fvu = float(printed.split("sae on ecoli_k12: FVU ")[1].split(",")[0])
    assert 0 < fvu < 0.4  # 128 steps already explain most of the variance
    recovered = float(printed.split("loss recovered ")[1].split()[0])
    assert 0.2 < recovered <= 1.0
    # alignment and ranking ran on the whole genome with the demo SAE
    alignment = gi.align.Alignment.read(tmp_path / "demo" / "alignment")
    assert len(alignment.concepts) == n_concepts
    assert alignment.counts.positions.sum() == 2 * 4_641_652
    cds = alignment.concepts.set_index("concept").loc["cds"]
    assert cds["single_test_element_f1"] > 0.3  # the model reads coding sequence
    import anndata as ad

    catalog = ad.read_h5ad(tmp_path / "demo" / "catalog" / "catalog.h5ad")
    assert catalog.shape == (4 * 96, n_concepts) and "decoder" in catalog.obsm
    assert "rank ecoli_k12: ->" in printed
    # tracks, viewer and report: the best 5 known + 5 candidates, as the demo was told
    import json

    import pandas as pd

    demo = tmp_path / "demo"
    index = json.loads((demo / "tracks" / "tracks.json").read_text())
    table = pd.read_csv(demo / "catalog" / "catalog.tsv", sep="\t")
    expected = min(5, int((table["class"] == "known").sum())) + min(
        5, int((table["class"] == "candidate_novel").sum())
    )
    assert len(index["features"]) == expected
    assert all((demo / "tracks" / t["path"]).is_file() for t in index["tracks"])
    assert (demo / "viewer" / "index.html").is_file() and (demo / "viewer" / "data.js").is_file()
    report = demo / "report" / "index.html"
    assert report.is_file() and list((demo / "report" / "assets" / "plots").glob("*.png"))
    assert json.loads((demo / "sae" / "eval.json").read_text())["fvu"] == pytest.approx(
        fvu, abs=1e-3
    )
    lines = printed.strip().splitlines()
    assert lines[-2:] == [f"Report: {report}", f"Genome viewer: genointerp view {demo}"]
    stages = json.loads((demo / "run.json").read_text())["stages"]
    assert list(stages) == list(gi.pipeline.STAGES)
    assert all(t["ecoli_k12" if s != "sae" else "all"]["seconds"] > 0 for s, t in stages.items())
    # the same command again finds every stage up to date and changes nothing
    before = (demo / "features.h5").stat().st_mtime_ns
    argv = ["demo", "-o", str(demo), "--sae-tokens", "524288", "--sae-expansion", "4"]
    argv += ["--shifts", "50", "--tests", "10", "--set", "export.n_known=5"]
    assert main([*argv, "--set", "export.n_novel=5"]) == 0
    again = capsys.readouterr().out.splitlines()
    assert [line for line in again if line.endswith("up to date")] == [
        f"{s} ecoli_k12: up to date" if s != "sae" else "sae: up to date"
        for s in gi.pipeline.STAGES
    ]
    assert (demo / "features.h5").stat().st_mtime_ns == before


def test_export_regions_split_on_list_commas_not_thousands():
    from genointerp.cli._export import _regions

    assert _regions("chrA:1,001-2,000,chrB") == ["chrA:1,001-2,000", "chrB"]
    assert _regions("chrA:1001-2000,chrB:5-10") == ["chrA:1001-2000", "chrB:5-10"]
    assert _regions("chrA:1,001-2,000 chrB:1,000,001-1,000,500") == [
        "chrA:1,001-2,000",
        "chrB:1,000,001-1,000,500",
    ]
