"""``genointerp intervene ablate|steer`` and ``genointerp match`` on the small run folder."""

from __future__ import annotations

import pandas as pd
import pytest

import genointerp as gi
from genointerp.cli import main
from tests.builders import random_tiny


def save_run_model(run, tmp_path):
    """The small run's random model (tests/run_fixture.py: d_model 8, seed 3), saved."""
    model = random_tiny(d_model=8, seed=3)
    name = model.model_id.split(":", 1)[1]
    return gi.models.save_tiny(model.model, tmp_path / "model", {"model_id": name})


def test_ablate_and_steer_a_run(run_copy, tmp_path, capsys):
    small_run = run_copy  # the catalog gets the ablation columns
    weights = save_run_model(small_run, tmp_path)
    out = tmp_path / "intervene"
    common = ["--weights", str(weights), "-o", str(out)]
    code = main(
        [
            "-q",
            "intervene",
            "ablate",
            str(small_run),
            "--features",
            "3,5",
            "--positions",
            "4000",
            "--controls",
            "6",
            "--concepts",
            "cds,trna",
            *common,
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "ablation.tsv", sep="\t")
    assert set(table["target"].astype(str)) == {"3", "5"} and set(table["concept"]) == {
        "cds",
        "trna",
    }
    assert table["n_controls"].min() >= 5 and (out / "controls.tsv").is_file()
    catalog = pd.read_csv(small_run / "catalog" / "catalog.tsv", sep="\t").set_index("feature")
    assert catalog.loc[[3, 5], "ablation_concept"].isin(["cds", "trna"]).all()
    assert catalog["ablation_selectivity"].notna().sum() == 2
    families = pd.read_csv(small_run / "catalog" / "families.tsv", sep="\t")
    known = families[(families["class"] == "known") & (families["size"] > 1)]
    members = [int(m) for m in known["members"].iloc[0].split(",")]
    args = ["-q", "intervene", "ablate", str(small_run), "--features", "3", "--families"]
    args += ["--positions", "4000", "--controls", "6", "--group-controls", "3"]
    assert main([*args, "--concepts", "cds", *common]) == 0
    table = pd.read_csv(out / "ablation.tsv", sep="\t").set_index("target")
    family = f"family {int(known['family'].iloc[0])}"
    assert table.loc[family, "control"] == "density-matched groups"
    assert table.loc[family, "n_controls"] == 3
    assert sorted(map(int, table.loc[family, "features"].split(","))) == sorted(members)
    catalog = pd.read_csv(small_run / "catalog" / "catalog.tsv", sep="\t").set_index("feature")
    assert catalog.loc[members, "ablation_family_selectivity"].nunique() == 1
    assert catalog["ablation_family_z"].notna().sum() == len(members)
    code = main(
        [
            "-q",
            "intervene",
            "steer",
            str(small_run),
            "--features",
            "3",
            "--strengths",
            "0,2",
            "--prompts",
            "2",
            "--length",
            "60",
            "--words",
            "ACG",
            *common,
        ]
    )
    assert code == 0
    dose = pd.read_csv(out / "steer_3_clamp_dose.tsv", sep="\t")
    assert dose["edit"].tolist() == ["none", "none, next seed", "clamp", "clamp"]
    assert dose["strength"].tolist()[2:] == [0, 2] and "word_ACG" in dose
    assert dose["others_change"].iloc[0] == 0  # the unsteered rows are the baseline
    fasta = (out / "steer_3_clamp.fa").read_text().split("\n")
    assert fasta[0] == ">edit=none prompt=0" and len(fasta[1]) == 60
    assert fasta[4] == ">edit=clamp=0 prompt=0"
    catalog = pd.read_csv(small_run / "catalog" / "catalog.tsv", sep="\t").set_index("feature")
    assert catalog.loc[3, "steering_measure"] == "word_ACG"
    rows = dose.set_index("edit")
    unsteered = rows.loc["none", "word_ACG"]
    assert catalog.loc[3, "steering_unsteered"] == pytest.approx(unsteered, rel=1e-6)
    steered = dose[dose["strength"] == 2]["word_ACG"].iloc[0]
    assert catalog.loc[3, "steering_effect"] == pytest.approx(steered - unsteered, abs=1e-4)
    assert catalog["steering_effect"].notna().sum() == 1
    assert catalog.loc[3, "steering_edit"] == "clamp at 2x max on 3"
    # a second steering call adds its feature and keeps the first one's numbers
    second = ["-q", "intervene", "steer", str(small_run), "--features", "5", "--strengths", "1"]
    assert main([*second, "--prompts", "1", "--length", "30", *common]) == 0
    again = pd.read_csv(small_run / "catalog" / "catalog.tsv", sep="\t").set_index("feature")
    assert again.loc[3, "steering_effect"] == catalog.loc[3, "steering_effect"]
    assert (
        again.loc[5, "steering_measure"] == "mean_orf" and again["steering_edit"].notna().sum() == 2
    )
    # a measure the steering will not produce is refused before any generation
    bad = main([*second, "--measure", "word_GATC", *common])
    assert bad == 1 and "--measure 'word_GATC' is not measured" in capsys.readouterr().err


def test_attribute_a_run(run_copy, tmp_path, capsys):
    """ISM at a feature's top sites: one logo, a seqlet table and the catalog columns; the
    seqlet cores are bases of the sites' own windows."""
    weights = save_run_model(run_copy, tmp_path)
    families = pd.read_csv(run_copy / "catalog" / "families.tsv", sep="\t")
    feature = int(families[families["class"] == "known"]["best_feature"].iloc[0])  # in the report
    out = tmp_path / "intervene"
    code = main(
        [
            "-q",
            "intervene",
            "attribute",
            str(run_copy),
            "--features",
            str(feature),
            "--sites",
            "8",
            "--motifs",
            "",
            "--weights",
            str(weights),
            "-o",
            str(out),
        ]
    )
    assert code == 0
    folder = out / "attribution"
    assert (folder / f"feature_{feature}.png").stat().st_size > 1000
    groups = pd.read_csv(folder / f"feature_{feature}_seqlets.tsv", sep="\t")
    summary = pd.read_csv(folder / "attribution.tsv", sep="\t")
    assert summary["feature"].tolist() == [feature] and summary["attribution_sites"][0] == 8
    catalog = pd.read_csv(run_copy / "catalog" / "catalog.tsv", sep="\t").set_index("feature")
    # the run's random 8-wide model moves this feature by ~0.003 at most: no seqlet group is
    # shared by 5 of the 8 sites, and the catalog says so rather than inventing a core (the
    # group path is checked on a planted motif in tests/test_attribute.py and below)
    assert groups.empty and catalog.loc[feature, "attribution_share"] == 0
    assert pd.isna(catalog.loc[feature, "attribution_core"])
    # the report's card of the feature shows the attribution logo (written outside the run
    # with -o: the catalog says where)
    assert catalog.loc[feature, "attribution_logo"] == str(folder / f"feature_{feature}.png")
    page = gi.report.write_report(run_copy, figures=False).read_text()
    assert f"assets/attribution/feature_{feature}.png" in page
    assert (run_copy / "report" / "assets" / "attribution" / f"feature_{feature}.png").is_file()


def test_intervene_refuses_other_weights(small_run, capsys):
    code = main(["intervene", "ablate", str(small_run), "--weights", "v1"])
    assert code == 1
    assert "but the run's SAE reads" in capsys.readouterr().err


def test_match_a_run_with_itself(run_copy, tmp_path, capsys):
    small_run = run_copy
    features = small_run / "features.h5"
    out = tmp_path / "match.tsv"
    code = main(
        [
            "-q",
            "match",
            str(features),
            str(features),
            "--sae-a",
            str(small_run / "sae"),
            "--sae-b",
            str(small_run / "sae"),
            "--catalog",
            str(small_run / "catalog"),
            "-o",
            str(out),
            "--positions",
            "20000",
        ]
    )
    assert code == 0
    table = pd.read_csv(out, sep="\t")
    alive = table[table["density"] > 0]
    assert (alive["match"] == alive["feature"]).all() and (alive["correlation"] > 0.999).all()
    assert (alive["decoder_cosine"] > 0.999).all()
    assert "stable" in capsys.readouterr().out
    catalog = pd.read_csv(small_run / "catalog" / "catalog.tsv", sep="\t")
    alive = catalog[catalog["density"] > 0]
    assert alive["seed_stable"].all() and (alive["seed_match"] == alive["feature"]).all()


def test_label_a_run(run_copy, capsys):
    assert main(["-q", "label", str(run_copy), "--positions", "8000", "--block", "1500"]) == 0
    catalog = pd.read_csv(run_copy / "catalog" / "catalog.tsv", sep="\t")
    alive = catalog[catalog["class"] != "dead"]
    assert alive["label"].notna().all() and alive["label_score"].notna().sum() >= 3
    assert "median" in capsys.readouterr().out


def test_the_report_shows_intervention_evidence(run_copy):
    import re

    index = gi.report.write_report(run_copy, figures=False)
    feature = int(re.search(r"id='f(\d+)'", index.read_text()).group(1))
    evidence = pd.DataFrame(
        {
            "feature": [feature],
            "label": ["word ACG at the position"],
            "label_score": [0.62],
            "ablation_concept": ["cds"],
            "ablation_selectivity": [0.0123],
            "ablation_z": [3.1],
            "ablation_p": [0.04],
            "seed_match": [7],
            "seed_correlation": [0.41],
            "seed_stable": [False],
        }
    )
    gi.rank.add_evidence(run_copy / "catalog", evidence)
    html = gi.report.write_report(run_copy, figures=False).read_text()
    card = html[html.index(f"id='f{feature}'") :]
    card = card[: card.index("</article>")]
    assert "word ACG at the position (simulation r = 0.62)" in card
    assert "more loss at cds than elsewhere" in card and "z = 3.1" in card
    assert "no counterpart in an SAE of another seed (best r = 0.41)" in card


def test_a_features_main_seqlet_group_becomes_its_evidence():
    """The group most sites share is the feature's core; its motif counts as a match only
    at q <= 0.05, and the report says which."""
    from genointerp.intervene import attribution_row
    from genointerp.report._html import _intervention_facts

    groups = pd.DataFrame(
        {
            "offset": [-20, -5],
            "length": [3, 6],
            "seqlets": [7, 30],
            "consensus": ["GGA", "TTGACA"],
            "match": ["M1", "M2"],
            "match_name": ["one", "sigma70 -35"],
            "p_value": [1e-5, 1e-4],
            "q_value": [0.01, 0.3],
        }
    )
    row = attribution_row(9, groups, 32)
    assert row["attribution_core"] == "TTGACA" and row["attribution_offset"] == -5
    assert row["attribution_share"] == 30 / 32 and row["attribution_match"] == "M2 sigma70 -35"
    facts = dict(_intervention_facts(row))
    assert facts["bases that drive it"].startswith("TTGACA at -5 to 0 nt from the site, in 30 of")
    assert "no known motif (closest M2 sigma70 -35, q = 0.3" in facts["bases that drive it"]
    row = attribution_row(9, groups.assign(q_value=[0.3, 0.01]), 32)
    assert (
        "; matches M2 sigma70 -35, q = 0.01"
        in dict(_intervention_facts(row))["bases that drive it"]
    )
