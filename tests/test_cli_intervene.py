"""``genointerp intervene ablate|steer`` and ``genointerp match`` on the small run folder."""

from __future__ import annotations

import pandas as pd

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
    assert dose["strength"].tolist() == [0, 2] and "word_ACG" in dose
    fasta = (out / "steer_3_clamp.fa").read_text().split("\n")
    assert fasta[0] == ">strength=0 prompt=0" and len(fasta[1]) == 60


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
