"""Group-matched controls for ablating a feature family: a group of features is compared
with random groups of its own size whose members match its members' densities, on a
planted model whose group effects are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import genointerp as gi
from genointerp.intervene._ablate import control_groups
from genointerp.sae import SAEConfig, build_sae
from tests.test_intervene import GAIN, RepeatModel, identity_sae, planted_genome

BASES = "ACGT"


def planted_sae(specs: list[tuple[str, dict[str, float]]]):
    """A ReLU SAE on the repeat model's one-hot layer: feature j of ``specs[j] = (fires,
    decoder)`` is 1 where the current base is one of ``fires`` and 0 elsewhere, and writes
    ``decoder`` ({base: weight}) back."""
    sae = build_sae(SAEConfig(architecture="relu", d_sae=len(specs), k=1), 4)
    with torch.no_grad():
        for tensor in (sae.W_enc_param, sae.W_dec, sae.b_enc, sae.b_dec):
            tensor.zero_()
        for j, (fires, decoder) in enumerate(specs):
            for base in fires:
                sae.W_enc_param[BASES.index(base), j] = 1.0
            for base, weight in decoder.items():
                sae.W_dec[j, BASES.index(base)] = weight
    return sae


def families():
    """The targets and the SAE: ``signal`` splits the A direction in three (ablated
    together they remove it, as the identity SAE's A feature does), ``null`` writes
    nothing, ``single`` is the C direction; the rest are fillers of several densities
    (A, two, three or four bases) with partial decoders, for the controls to draw from."""
    specs = [("A", {"A": 1 / 3})] * 3  # signal: 0, 1, 2
    specs += [("A", {}), ("CG", {}), ("CGT", {})]  # null: 3, 4, 5
    specs += [("C", {"C": 1.0})]  # single: 6
    for s in (0.1, 0.2, 0.3, 0.4):
        specs += [("A", {"A": s / 3})]
        specs += [(pair, dict.fromkeys(pair, s)) for pair in ("CG", "CT", "GT")]
        specs += [("CGT", dict.fromkeys("CGT", s)), ("ACGT", dict.fromkeys("ACGT", s))]
    targets = {"signal": [0, 1, 2], "null": [3, 4, 5], "single": [6]}
    return planted_sae(specs), targets


@pytest.fixture(scope="module")
def planted():
    genome, tracks = planted_genome()
    sae, targets = families()
    result = gi.intervene.ablation_effect(
        RepeatModel(),
        sae,
        genome,
        tracks,
        "onehot",
        targets,
        positions=20_000,
        scored=512,
        controls=8,
        progress=False,
    )
    return result, targets


def densities(text: str) -> np.ndarray:
    return np.array([float(d) for d in text.split(",")])


def test_a_family_is_compared_with_density_matched_groups_of_its_size(planted):
    result, targets = planted
    table = result.table.set_index("target")
    assert (
        table.loc["signal", "control"] == table.loc["null", "control"] == ("density-matched groups")
    )
    assert table.loc["single", "control"] == "density-matched features"
    assert (table.loc[["signal", "null"], "n_controls"] == 8).all()
    groups = result.group_controls
    assert len(groups) == 16 and set(groups["target"]) == {"signal", "null"}
    taken = {f for fs in targets.values() for f in fs}
    for row in groups.itertuples():
        features = [int(f) for f in row.features.split(",")]
        assert len(features) == len(set(features)) == 3 and not taken & set(features)
        # member i stands for the target's member i: within a factor 2 of its density
        ratio = densities(row.densities) / densities(table.loc[row.target, "densities"])
        assert np.all((ratio >= 0.5) & (ratio <= 2)), (row.target, row.features)
        assert row.density == pytest.approx(densities(row.densities).sum(), rel=1e-5)
    for target, mine in groups.groupby("target"):
        assert mine["features"].nunique() == 8  # distinct groups
        values = mine["selectivity"].to_numpy()
        p = (1 + (values >= table.loc[target, "selectivity"]).sum()) / 9
        assert table.loc[target, "p_value"] == pytest.approx(p)
        assert table.loc[target, "control_mean"] == pytest.approx(values.mean())
        assert table.loc[target, "control_sd"] == pytest.approx(values.std(ddof=1))


def test_planted_family_effects_are_recovered(planted):
    """The signal family ablated together leaves the model uniform after an A: inside the
    poly-A runs the rise is 2 bits minus the clean loss, and no control group of three
    partial features comes near it.  The null family changes nothing, exactly, and does
    not look significant: every control group ablates something."""
    result, _ = planted
    table = result.table.set_index("target")
    clean_in = -math.log2(math.exp(GAIN) / (math.exp(GAIN) + 3))
    assert table.loc["signal", "delta_in"] == pytest.approx(2 - clean_in, rel=0.02)
    assert table.loc["signal", "p_value"] == pytest.approx(1 / 9)  # above all 8 groups
    assert table.loc["signal", "z"] > 3
    null = table.loc["null"]
    assert null["delta_in"] == null["delta_out"] == null["selectivity"] == 0.0
    assert null["p_value"] == 1.0 and null["z"] < 0


def test_single_feature_targets_keep_the_feature_pool(planted, tmp_path):
    """A single feature is still compared with the control features of its density (at
    least the 5 nearest); every table is written."""
    result, _ = planted
    row = result.table.set_index("target").loc["single"]
    pool = result.controls
    assert len(pool) == 8 and not pool["feature"].isin(range(7)).any()
    gap = np.abs(np.log(pool["density"] / row["density"]))
    near = pool[gap <= math.log(2)]
    if len(near) < 5:
        near = pool.iloc[np.argsort(gap.to_numpy(), kind="stable")[:5]]
    assert row["n_controls"] == len(near)
    assert row["control_mean"] == pytest.approx(near["selectivity"].mean())
    out = result.write(tmp_path / "ablate")
    written = {
        name: pd.read_csv(out / name, sep="\t")
        for name in ("ablation.tsv", "controls.tsv", "group_controls.tsv")
    }
    assert len(written["ablation.tsv"]) == 3 and len(written["controls.tsv"]) == 8
    assert written["group_controls.tsv"]["features"].tolist() == (
        result.group_controls["features"].tolist()
    )


def test_control_groups_match_each_member():
    rng = np.random.default_rng(0)
    density = np.exp(rng.uniform(np.log(1e-4), 0, 400))  # alive, log-uniform
    density[:20] = 0.0  # dead: never drawn
    members, exclude = [30, 31, 32], [30, 31, 32, 33, 34]
    density[members] = [1e-3, 1e-2, 0.2]
    drawn = control_groups(density, members, 12, exclude=exclude, seed=(0, 1))
    assert len(drawn) == 12 and len({frozenset(g) for g in drawn}) == 12
    for group in drawn:
        assert len(set(group)) == 3 and not set(group) & set(exclude)
        ratio = density[group] / density[members]
        assert np.all((ratio >= 0.5) & (ratio <= 2)) and min(group) >= 20
    assert drawn == control_groups(density, members, 12, exclude=exclude, seed=(0, 1))
    assert drawn != control_groups(density, members, 12, exclude=exclude, seed=(0, 2))


def test_control_groups_fall_back_to_the_nearest_and_never_repeat_a_feature():
    # members of density 0.1; only 5 alive features near it (2 within a factor 2)
    density = np.array([0.1, 0.1, 0.15, 0.06, 0.3, 0.02, 0.9, 0.95, 0.0])
    drawn = control_groups(density, [0, 1], 20, exclude=[0, 1])
    # the 5 nearest by log density are 2, 3, 4, 5 and 6: 10 unordered pairs, all drawn
    assert len(drawn) == 10 and {f for g in drawn for f in g} == {2, 3, 4, 5, 6}
    assert all(len(set(g)) == 2 for g in drawn)
    assert control_groups(density, [0, 1, 2, 3], 3, exclude=range(6)) == []  # 2 left: too few


def test_a_target_without_features_is_refused():
    genome, tracks = planted_genome(length=5000)
    with pytest.raises(gi.errors.GenointerpError, match=r"without features \['family'\]"):
        gi.intervene.ablation_effect(
            RepeatModel(), identity_sae(), genome, tracks, "onehot", {"family": [], "A": [0]}
        )
