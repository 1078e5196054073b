"""A randomly initialised copy of the built-in model: the control baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import genointerp as gi
from genointerp.cli import main
from genointerp.models import TinyConfig, bits_per_nt, load_tiny, random_tiny

from .builders import random_genome


def _same_weights(a, b) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_seed_gives_the_same_weights_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = random_tiny(seed=3)
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream is untouched
    assert _same_weights(first, random_tiny(seed=3))
    assert not _same_weights(first, random_tiny(seed=4))


def test_architecture_is_the_shipped_one_and_every_weight_differs():
    shipped, control = load_tiny(), random_tiny()
    assert control.model.config == shipped.model.config
    assert control.layers == shipped.layers and control.d_model == shipped.d_model == 96
    assert control.receptive_field == shipped.receptive_field
    trained, fresh = shipped.model.state_dict(), control.model.state_dict()
    assert {k: v.shape for k, v in fresh.items()} == {k: v.shape for k, v in trained.items()}
    assert [k for k in fresh if torch.equal(fresh[k], trained[k])] == []


def test_model_id_says_random_init_and_names_the_seed():
    assert random_tiny().model_id == "tiny:random-init-seed0"
    assert random_tiny(seed=7).model_id == "tiny:random-init-seed7"
    assert load_tiny().model_id == "tiny:genointerp-tiny-v1"
    small = TinyConfig(d_model=8, dilations=[1, 2])
    other = random_tiny(seed=7, config=small)
    assert other.d_model == 8 and other.layers == ["embed", "blocks.0", "blocks.1", "norm"]
    # another architecture, same seed: still marked random, but never the same id
    assert other.model_id.startswith("tiny:random-init-seed7-") and len(other.model_id) == 31


def test_cli_writes_weights_that_load_and_extract_as_the_random_copy(tmp_path, capsys):
    out = tmp_path / "random-tiny"
    assert main(["-q", "lm", "random", "-o", str(out), "--seed", "3"]) == 0
    assert "tiny:random-init-seed3" in capsys.readouterr().out
    loaded = gi.models.load_model("tiny", path=str(out))
    assert loaded.model_id == "tiny:random-init-seed3"
    assert _same_weights(loaded, random_tiny(seed=3))
    record = json.loads((out / "config.json").read_text())
    assert record["random_init"] == {"seed": 3}
    assert record["parameters"] == sum(p.numel() for p in loaded.model.parameters())

    fasta = tmp_path / "g.fa"
    genome = random_genome({"c": 3000}, seed=1)
    fasta.write_text(f">c\n{genome.fetch('c')}\n")
    store = tmp_path / "acts.h5"
    args = ["-q", "extract", "--genome", str(fasta), "--weights", str(out)]
    assert main([*args, "--layers", "blocks.1", "--device", "cpu", "-o", str(store)]) == 0
    with gi.acts.ActivationStore(store) as acts:
        assert acts.model_id == "tiny:random-init-seed3"
        assert acts.model["model_id"] == "tiny:random-init-seed3"
        stored = acts.read("blocks.1", "c", "+", 0, 3000).astype(np.float32)
    direct = loaded.run(genome.fetch("c"), ["blocks.1"]).activations["blocks.1"][0].numpy()
    np.testing.assert_allclose(stored, direct, atol=2e-3 * np.abs(direct).max())  # float16


@pytest.mark.realdata
def test_random_copy_predicts_e_coli_at_chance_and_the_shipped_model_does_better(mirror):
    """20 kb of E. coli's held-out tail (both strands): ~2 bits/nt untrained, less trained."""
    ecoli = gi.datasets.load("ecoli_k12").genome()
    tokens = gi.models.nucleotide_index(ecoli.codes("NC_000913.3"))
    start = int(len(tokens) * 0.9) + 200_000
    segment = tokens[start : start + 20_000]
    assert (segment < 4).all()
    freq = np.bincount(segment, minlength=4) / len(segment)
    composition = float(-(freq * np.log2(freq)).sum())  # knowing only the base composition
    trained = bits_per_nt(load_tiny().model, [segment])
    for seed in (0, 1):
        control = bits_per_nt(random_tiny(seed=seed).model, [segment])
        print(f"seed {seed}: random-init {control:.4f} bits/nt, shipped {trained:.4f}")
        # untrained: no better than the composition (1.997 here), a little worse at most
        assert composition - 0.01 < control < 2.1
    assert trained < composition - 0.1  # 1.84 bits/nt
