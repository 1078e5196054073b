"""Attributions of a feature: the one-hot model equals the adapter, the causal cone is
exact, ISM matches a hand loop, and seqlets of a planted motif find that motif."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import genointerp as gi
from genointerp.intervene import Attribution, FeatureScore, one_hot
from genointerp.rank import Motif
from genointerp.sae import SAEConfig, build_sae


def setup(layer="blocks.1", feature=3):
    torch.manual_seed(0)
    model = gi.models.random_tiny(seed=0)
    sae = build_sae(SAEConfig(architecture="topk", d_sae=64, k=4), model.d_model).eval()
    return model, sae, FeatureScore(model.model, sae, layer, feature).eval()


def random_genome(seed: int, length: int):
    bases = np.random.default_rng(seed).choice(list("ACGT"), length)
    return gi.io.Genome.from_sequences({"c": "".join(bases)})


def test_the_one_hot_model_scores_what_the_adapter_computes():
    model, sae, scorer = setup("blocks.4")
    rng = np.random.default_rng(0)
    codes = rng.choice(np.frombuffer(b"ACGT", np.uint8), size=(3, 50))
    codes[1, 10] = ord("N")
    acts = model.forward(codes, ["blocks.4"]).activations["blocks.4"][:, -1]
    with torch.no_grad():
        want = sae.pre_acts(acts)[:, [3]]
        got = scorer(one_hot(codes))
    assert torch.allclose(got, want, atol=1e-5)


def test_saliency_is_zero_outside_the_causal_cone():
    model, sae, scorer = setup("blocks.1")  # blocks 0-1 reach 2 * (1 + 2) = 6 back
    genome = gi.io.Genome.from_sequences(
        {"c": "".join(np.random.default_rng(1).choice(list("ACGT"), 500))}
    )
    sites = pd.DataFrame({"contig": "c", "strand": ["+", "-", "+"], "position": [100, 200, 10]})
    found = gi.intervene.attribute(model, sae, "blocks.1", 3, genome, sites, window=32)
    per_base = found.per_base()
    assert per_base.shape == (3, 32)
    assert np.all(per_base[:, :-7] == 0) and np.all(np.abs(per_base[:2, -7:]).sum(1) > 0)
    # the '-' site reads the reverse complement of [200, 232), the site last
    window = np.asarray(genome.codes("c", 200, 232))
    assert found.codes[1].tobytes() == gi.models.reverse_complement(window).tobytes()
    assert found.codes[2, :21].tobytes() == b"N" * 21  # position 10 has 11 bases before it


def test_ism_matches_substituting_each_base_by_hand():
    model, sae, scorer = setup("blocks.2")
    genome = gi.io.Genome.from_sequences(
        {"c": "".join(np.random.default_rng(2).choice(list("ACGT"), 300))}
    )
    sites = pd.DataFrame({"contig": ["c"], "strand": ["+"], "position": [150]})
    found = gi.intervene.attribute(
        model, sae, "blocks.2", 3, genome, sites, method="ism", window=40, mutate=8
    )
    X = one_hot(found.codes)
    with torch.no_grad():
        base = scorer(X)[0, 0]
        for pos in range(32, 40):
            diffs = []
            for b in range(4):
                Y = X.clone()
                Y[0, :, pos] = 0
                Y[0, b, pos] = 1
                diffs.append(float(scorer(Y)[0, 0] - base))
            observed = int(X[0, :, pos].argmax())
            # tangermeme: the change, centred over the four bases, at the observed base
            want = diffs[observed] - np.mean(diffs)
            assert abs(found.scores[0, observed, pos] - want) < 1e-4
    assert np.all(found.scores[..., :32] == 0)


def test_seqlets_of_a_planted_motif_match_it():
    rng = np.random.default_rng(3)
    n, window = 40, 60
    codes = rng.choice(np.frombuffer(b"ACGT", np.uint8), size=(n, window))
    codes[:, 44:50] = np.frombuffer(b"TTGACA", np.uint8)  # 10 nt before each site
    scores = np.zeros((n, 4, window), np.float32)
    observed = one_hot(codes).numpy()
    scores += 0.02 * rng.standard_normal((n, 1, window)).astype(np.float32) * observed
    scores[:, :, 44:50] += 1.0 * observed[:, :, 44:50]
    attribution = Attribution(7, pd.DataFrame(index=range(n)), codes, scores, "planted")
    target = Motif("M_TTGACA", "sigma70_-35", np.eye(4)[[3, 3, 2, 0, 1, 0]])
    decoys = [Motif(f"D{i}", f"decoy{i}", np.eye(4)[rng.integers(0, 4, 6)]) for i in range(30)]
    found = gi.intervene.seqlet_motifs(attribution, [target, *decoys])
    top = found.iloc[0]
    assert top["offset"] == 44 - 59 and top["consensus"] == "TTGACA"  # site: the last base
    assert top["match"] == "M_TTGACA" and top["p_value"] < 0.05
    assert top["seqlets"] >= 30
