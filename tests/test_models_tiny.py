"""The built-in model: causality, save/load, training resume, Markov baselines, shipped weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genointerp as gi
from genointerp.errors import GenointerpError
from genointerp.models import (
    LMTrainConfig,
    MarkovModel,
    TinyConfig,
    bits_per_nt,
    load_tiny,
    markov_bits,
    read_tiny,
    save_tiny,
    train_lm,
)
from genointerp.models._train import Corpus, revcomp_tokens

from .builders import random_sequence, random_tiny


def test_outputs_are_causal_and_per_nucleotide():
    model = random_tiny()
    seq = random_sequence(200)
    changed = seq[:120] + random_sequence(80, seed=5)
    a = model.run([seq, changed], ["blocks.1", "norm"])
    for layer in ["blocks.1", "norm"]:
        x = a.activations[layer]
        assert x.shape == (2, 200, 8) and x.dtype == torch.float32
        torch.testing.assert_close(x[0, :120], x[1, :120], rtol=0, atol=0)  # never sees ahead
        assert not torch.equal(x[0, 120:], x[1, 120:])
    assert a.logits.shape == (2, 200, 4)
    assert model.run(seq, ["blocks.0"]).logits is None  # an early layer skips the head


def test_forward_of_one_layer_matches_the_full_stack():
    model = random_tiny()
    seq = random_sequence(64)
    full = model.run(seq, ["embed", "blocks.0", "blocks.1", "blocks.2", "norm"])
    alone = model.run(seq, ["blocks.1"])
    torch.testing.assert_close(alone.activations["blocks.1"], full.activations["blocks.1"])


def test_save_and_read_round_trip_exactly(tmp_path):
    model = random_tiny(d_model=12, dilations=(1, 3))
    save_tiny(model.model, tmp_path / "m", {"model_id": "x"})
    again, record = read_tiny(tmp_path / "m")
    assert record["model_id"] == "x" and again.config == model.model.config
    for key, value in model.model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    with pytest.raises(GenointerpError, match="no such file. Fix: point to a directory"):
        read_tiny(tmp_path / "missing")


def test_unknown_adapter_and_layer_errors():
    with pytest.raises(GenointerpError, match="did you mean 'tiny'"):
        gi.models.load_model("tiyn")
    with pytest.raises(gi.models.LayerError, match="did you mean 'blocks.1'"):
        random_tiny().run("ACGT", ["block.1"])


def test_markov_counts_match_a_hand_computation():
    model = MarkovModel(0, alpha=1.0).fit([np.array([0, 0, 0, 0], np.uint8)])
    np.testing.assert_allclose(
        model.log2_prob(np.array([0, 1], np.uint8)), [math.log2(5 / 8), math.log2(1 / 8)]
    )
    # Order 1 on ACAC...AC (100 tokens): 50 AC and 49 CA bigrams; add-0.5 over 4 letters.
    chain = MarkovModel(1, alpha=0.5).fit([np.array([0, 1] * 50, np.uint8)])
    after_a, after_c = math.log2(50.5 / 52), math.log2(49.5 / 51)
    np.testing.assert_allclose(chain.log2_prob(np.array([0, 1, 0], np.uint8)), [after_a, after_c])
    train, test = [np.array([0, 1] * 50, np.uint8)], [np.array([0, 1] * 20, np.uint8)]
    bits = markov_bits(train, test, orders=[0, 1], alphas=[0.5], skip=2)
    assert bits[0] == pytest.approx(-math.log2(50.5 / 102))
    assert bits[1] == pytest.approx(-(after_a + after_c) / 2)  # 19 of each from position 2 on


def _random_corpus(seed=0) -> Corpus:
    rng = np.random.default_rng(seed)
    # A learnable source: the next base is the one after the last (A->C->G->T->A) 90% of the time.
    step = np.where(rng.random(60_000) < 0.9, 1, rng.integers(0, 4, 60_000))
    base = (np.cumsum(step) % 4).astype(np.uint8)
    return Corpus([base[:50_000]], {"toy": [base[50_000:]]}, {}, {"toy": "none"})


def _toy_config(**kw) -> LMTrainConfig:
    settings = {
        "model": TinyConfig(d_model=16, dilations=[1, 2, 4]),
        "steps": 12,
        "lr": 0.01,
        "batch_size": 4,
        "seq_len": 128,
        "warmup_steps": 2,
        "eval_every": 6,
        "checkpoint_every": 4,
        "eval_sample": 5_000,
        "markov_orders": [0, 2],
    }
    return LMTrainConfig(**{**settings, **kw})


def test_training_resumed_after_a_stop_equals_an_uninterrupted_run(tmp_path):
    corpus = _random_corpus()
    full = train_lm(_toy_config(), tmp_path / "full", corpus=corpus, progress=False)
    assert (
        train_lm(_toy_config(), tmp_path / "split", corpus=corpus, stop_after=6, progress=False)
        is None
    )
    split = train_lm(_toy_config(), tmp_path / "split", corpus=corpus, progress=False)
    a, _ = read_tiny(tmp_path / "full")
    b, _ = read_tiny(tmp_path / "split")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert full["evaluation"] == split["evaluation"]
    # It learned the rule: far better than order 0 on held-out data.
    toy = full["evaluation"]["toy (held-out)"]
    assert toy["model_bits"] < toy["unigram_bits"] - 0.5
    log = (tmp_path / "full" / "train_log.tsv").read_text().splitlines()
    assert log[0].split("\t") == ["step", "lr", "train_bits", "heldout_bits"] and len(log) == 13
    with pytest.raises(GenointerpError, match="other settings"):
        train_lm(_toy_config(seed=1), tmp_path / "split", corpus=corpus, progress=False)


def test_a_grown_model_predicts_exactly_what_it_grew_from():
    start = random_tiny(d_model=16, dilations=(1, 2, 1)).model
    # training moves every weight: make the old blocks' outputs non-trivial first
    with torch.no_grad():
        for block in start.blocks:
            block.out.weight.normal_(std=0.3)
    deeper = TinyConfig(d_model=16, dilations=[1, 2, 4, 8, 1])
    grown = gi.models.grow(start, deeper).eval()
    rng = np.random.default_rng(3)
    tokens = torch.from_numpy(rng.integers(0, 5, (2, 700)))
    with torch.inference_mode():
        before, _ = start(tokens)
        after, _ = grown(tokens)
    assert torch.equal(before, after)
    assert grown.config.receptive_field == 1 + 2 * 16 > start.config.receptive_field
    new = [grown.blocks[i] for i in (2, 3)]
    assert all(not b.out.weight.any() for b in new)  # identity now, trainable later
    assert any(p.requires_grad for b in new for p in b.parameters())
    with pytest.raises(ValueError, match="only depth can grow"):
        gi.models.grow(start, TinyConfig(d_model=32, dilations=[1, 2, 1]))
    with pytest.raises(ValueError, match="in order"):
        gi.models.grow(start, TinyConfig(d_model=16, dilations=[2, 1, 1]))


def test_training_from_a_smaller_model_starts_at_its_loss(tmp_path):
    corpus = _random_corpus()
    train_lm(_toy_config(), tmp_path / "small", corpus=corpus, progress=False)
    small, _ = read_tiny(tmp_path / "small")
    grown = TinyConfig(d_model=16, dilations=[1, 2, 4, 8])
    config = _toy_config(init=str(tmp_path / "small"), model=grown, steps=1, lr=1e-9)
    record = train_lm(config, tmp_path / "grown", corpus=corpus, progress=False)
    held_out = corpus.heldout["toy"]
    assert record["evaluation"]["toy (held-out)"]["model_bits"] == pytest.approx(
        bits_per_nt(small, held_out), abs=1e-4
    )
    config = _toy_config(init=str(tmp_path / "small"), model=TinyConfig(d_model=8))
    with pytest.raises(GenointerpError, match="only add blocks"):
        train_lm(config, tmp_path / "bad", corpus=corpus, progress=False)


def test_shipped_versions_load_by_name_and_v1_stays_the_default():
    assert load_tiny().model_id == load_tiny("v1").model_id == "tiny:genointerp-tiny-v1"
    v2 = load_tiny("v2")
    assert v2.receptive_field == 8193 and v2.default_layer == "blocks.6"
    with pytest.raises(GenointerpError, match="no shipped built-in model 'v3'"):
        gi.models._tiny.default_weights_dir("v3")


def test_bits_per_nt_does_not_depend_on_chunking():
    model = random_tiny().model
    segments = [_random_corpus().train[0][:3000]]
    a = bits_per_nt(model, segments, chunk=16384)
    b = bits_per_nt(model, segments, chunk=257)
    assert a == pytest.approx(b, rel=1e-5)
    assert np.array_equal(revcomp_tokens(np.array([0, 1, 2, 3, 4], np.uint8)), [4, 0, 1, 2, 3])


@pytest.mark.realdata
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_shipped_model_beats_markov_chains_on_held_out_and_unseen_genomes(mirror, version):
    """The weights in the package, on 100 kb of E. coli's held-out tail and of S. pyogenes."""
    model = load_tiny(version)
    record = read_tiny(gi.models._tiny.default_weights_dir(version))[1]
    assert model.model_id == f"tiny:genointerp-tiny-{version}"
    assert record["parameters"] == sum(p.numel() for p in model.model.parameters())
    ecoli = gi.datasets.load("ecoli_k12").genome()
    tokens = gi.models.nucleotide_index(ecoli.codes("NC_000913.3"))
    cut = int(len(tokens) * 0.9)
    train = [tokens[:cut], revcomp_tokens(tokens[:cut])]
    spy = gi.datasets.load("streptococcus_pyogenes_m1").genome()
    tests = {
        "ecoli held-out": tokens[cut + 200_000 : cut + 300_000],
        "S. pyogenes": gi.models.nucleotide_index(spy.codes(spy.names[0]))[:100_000],
    }
    for name, segment in tests.items():
        ours = bits_per_nt(model.model, [segment])
        markov = markov_bits(train, [segment, revcomp_tokens(segment)], orders=range(3, 11))
        best = min(markov.values())
        print(f"{name}: model {ours:.4f} bits/nt, best Markov (E. coli train) {best:.4f}")
        assert ours < best - 0.02, name
