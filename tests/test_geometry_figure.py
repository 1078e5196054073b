"""The run's geometry figure: one known family's sites in the layer's two principal axes,
drawn by gi.pl.write_figures with its numbers in geometry.tsv, or left out."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

import genointerp as gi  # noqa: E402
from genointerp import pl  # noqa: E402
from tests.run_fixture import LENGTHS  # noqa: E402

SHAPES = {"cycle", "clusters", "line", "diffuse"}


@pytest.fixture
def full_run(small_run, tmp_path) -> Path:
    """A private copy of the small run with its activation store (the figure reads it)."""
    copy = tmp_path / "full_run"
    shutil.copytree(small_run, copy)
    return copy


def read_geometry(folder: Path) -> pd.Series:
    table = pd.read_csv(folder / "geometry.tsv", sep="\t")
    assert len(table) == 1
    return table.iloc[0]


def label_counts(row: pd.Series) -> dict[str, int]:
    return {k: int(v) for k, v in (part.split(":") for part in row["labels"].split(","))}


def test_the_best_known_family_is_drawn_in_and_out_of_its_concept(full_run, tmp_path):
    families = pd.read_csv(full_run / "catalog" / "families.tsv", sep="\t")
    best = families[families["class"] == "known"].iloc[0]
    table = pd.read_csv(full_run / "catalog" / "catalog.tsv", sep="\t").set_index("feature")
    concept = table.loc[best["best_feature"], "best_concept"]
    assert not concept.startswith("codon_pos")  # the fixture's known family reads TF sites

    figures = pl.write_figures(full_run, tmp_path / "figures", embed=False)

    assert figures["geometry"] == tmp_path / "figures" / "geometry.png"
    image = plt.imread(figures["geometry"])
    assert image.shape[0] > 300 and image.shape[1] > 500
    row = read_geometry(tmp_path / "figures")
    assert (row["family"], row["best_feature"], row["concept"]) == (
        best["family"],
        best["best_feature"],
        concept,
    )
    assert row["members"] == len(str(best["members"]).split(","))
    assert row["layer"] == "blocks.1" and row["shape"] in SHAPES
    counts = label_counts(row)
    assert set(counts) <= {"in", "out"} and sum(counts.values()) == row["positions"] > 500
    # the labels are the concept's: the family fires in its concept far above the
    # concept's share of the genome (its best feature was planted on these sites)
    tracks = gi.concepts.ConceptTracks.read(full_run / "concepts.h5")
    masks = [tracks.mask(c, s, concepts=[concept]) for c in LENGTHS for s in "+-"]
    inside = [int(m.sum()) for m in masks]
    covered = sum(inside) / (2 * sum(LENGTHS.values()))
    assert counts.get("in", 0) / row["positions"] > 3 * covered
    assert 0 < row["pc1"] < 1 and 0 <= row["pc2"] <= row["pc1"]
    assert not list((tmp_path / "figures").glob(".tmp-*"))


def test_a_codon_family_is_preferred_and_labelled_by_codon_position(full_run, tmp_path):
    # make a weaker family known, its best feature a codon-position feature
    catalog = full_run / "catalog"
    families = pd.read_csv(catalog / "families.tsv", sep="\t")
    other = families.index[families["class"] != "known"][0]
    families.loc[other, ["class", "test_element_f1"]] = ["known", 0.01]
    families.to_csv(catalog / "families.tsv", sep="\t", index=False)
    table = pd.read_csv(catalog / "catalog.tsv", sep="\t")
    feature = families.loc[other, "best_feature"]
    table.loc[table["feature"] == feature, "best_concept"] = "codon_pos2"
    table.to_csv(catalog / "catalog.tsv", sep="\t", index=False)

    figures = pl.write_figures(full_run, tmp_path / "figures", embed=False)

    assert "geometry" in figures
    row = read_geometry(tmp_path / "figures")
    assert (row["family"], row["best_feature"]) == (families.loc[other, "family"], feature)
    assert row["concept"] == "codon" and row["shape"] in SHAPES
    counts = label_counts(row)
    assert set(counts) <= {"1", "2", "3", "-"} and sum(counts.values()) == row["positions"] > 0
    assert {"1", "2", "3"} <= set(counts)  # the fixture's genes cover a third of each strand


def test_no_geometry_without_activations_or_when_the_family_never_fires(
    run_copy, full_run, tmp_path, caplog
):
    out = tmp_path / "figures"
    out.mkdir()
    (out / "geometry.tsv").write_text("stale\n")
    caplog.set_level(logging.INFO, logger="genointerp.pl._write")
    figures = pl.write_figures(run_copy, out, embed=False)  # run_copy has no activations.h5
    assert "geometry" not in figures and "tracks" in figures
    assert not (out / "geometry.tsv").exists()
    assert "no geometry figure: the run has no activations" in caplog.text

    # the known family's members silenced: the SAE encodes again with their biases far down
    families = pd.read_csv(full_run / "catalog" / "families.tsv", sep="\t")
    best = families[families["class"] == "known"].iloc[0]
    members = [int(m) for m in str(best["members"]).split(",")]
    sae, provenance = gi.sae.load_sae(full_run / "sae")
    with torch.no_grad():
        sae.b_enc[members] = -1e6
    gi.sae.save_sae(sae, full_run / "sae", provenance)
    (full_run / "features.h5").unlink()
    gi.features.encode(full_run / "activations.h5", full_run / "sae", full_run / "features.h5")
    caplog.clear()
    figures = pl.write_figures(full_run, out, embed=False)
    assert "geometry" not in figures and "tracks" in figures
    assert not (out / "geometry.tsv").exists()
    assert f"no geometry figure for family {best['family']}: features" in caplog.text
    assert "never fire" in caplog.text
