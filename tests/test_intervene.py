"""gi.intervene: feature edits inside the model and the ablation effect, on planted cases
whose true effect is known in closed form, and on the built-in model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import genointerp as gi
from genointerp.concepts import ConceptSpec, ConceptTracks, Select
from genointerp.models import ModelOutput, Tokens, nucleotide_index
from genointerp.sae import SAEConfig, build_sae

GAIN = 5.0  # the planted model's logit for "the next base repeats this one"


class RepeatModel(gi.models.Adapter):
    """A planted model: its one layer is the one-hot of each base, and its logits are
    ``GAIN`` times that layer, so after a base it predicts the same base again."""

    name = "planted"
    model_id = "planted:repeat-base"

    def __init__(self, gain: float = GAIN) -> None:
        self.gain = gain

    d_model = 4
    context_length = 64
    acgt_logits = True

    @property
    def layers(self) -> list[str]:
        return ["onehot"]

    def tokenize(self, seq: str) -> Tokens:
        codes = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
        return Tokens(
            torch.as_tensor(nucleotide_index(codes).astype(np.int64)), np.arange(len(seq))
        )

    def _onehot(self, codes) -> torch.Tensor:
        index = torch.as_tensor(nucleotide_index(np.asarray(codes)).astype(np.int64))
        return torch.nn.functional.one_hot(index, 5)[..., :4].float()  # N: all zero

    def forward(self, codes, layers) -> ModelOutput:
        h = self._onehot(codes)
        return ModelOutput({name: h for name in layers}, self.gain * h)

    def splice(self, codes, layer, edit, *, grad=False) -> torch.Tensor:
        return self.gain * edit(self._onehot(codes))


def identity_sae():
    """Four ReLU features, one per base: feature j fires 1 exactly where the base is j."""
    sae = build_sae(SAEConfig(architecture="relu", d_sae=4, k=1), 4)
    with torch.no_grad():
        sae.W_enc_param.copy_(torch.eye(4))
        sae.W_dec.copy_(torch.eye(4))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def planted_genome(seed=0, length=40_000, run=200, every=1000):
    """Random sequence with a poly-A run of ``run`` nt every ``every`` nt; the runs are the
    '+'-strand concept ``polya``."""
    rng = np.random.default_rng(seed)
    seq = np.array(list("ACGT"))[rng.integers(0, 4, length)]
    starts = np.arange(100, length - run, every)
    for s in starts:
        seq[s : s + run] = "A"
    genome = gi.io.Genome.from_sequences({"c": "".join(seq)})
    table = pd.DataFrame(
        {
            "Concept": "polya",
            "Chromosome": "c",
            "Start": starts,
            "End": starts + run,
            "Strand": "+",
            "Element": [f"run{i}" for i in range(len(starts))],
            "Frame": -1,
        }
    )
    spec = ConceptSpec(name="polya", label="poly-A", select=[Select(feature=["x"])], stranded=True)
    return genome, ConceptTracks([spec], table, {"c": length}, genome_checksum="")


def test_edits_change_only_what_they_name():
    sae = identity_sae()
    x = torch.tensor([[[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0.3, 0, 0, 0.5]]])
    ablated = gi.intervene.edit_function(sae, gi.intervene.ablate(0))(x)
    assert torch.equal(ablated, torch.tensor([[[0.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 0.5]]]))
    clamped = gi.intervene.edit_function(sae, gi.intervene.clamp([1], 2.0))(x)
    assert torch.equal(clamped[..., 1], torch.full((1, 3), 2.0))
    assert torch.equal(clamped[..., [0, 2, 3]], x[..., [0, 2, 3]])
    pushed = gi.intervene.edit_function(sae, gi.intervene.add(3, -0.5))(x)
    assert torch.allclose(pushed - x, torch.tensor([0.0, 0, 0, -0.5]).expand_as(x))
    where = torch.tensor([[True, False, True]])
    local = gi.intervene.edit_function(sae, gi.intervene.ablate(0), where)(x)
    assert local[0, 0, 0] == 0 and local[0, 2, 0] == 0 and torch.equal(local[0, 1], x[0, 1])
    # the reconstruction error is kept: an SAE that reconstructs badly still edits exactly
    lossy = identity_sae()
    with torch.no_grad():
        lossy.W_dec.mul_(0.5)  # reconstructs half of x
    edited = gi.intervene.edit_function(lossy, gi.intervene.ablate(2))(x)
    assert torch.allclose(edited, x - torch.tensor([0, 0, 0.5, 0]) * x[..., 2:3])
    scaled = gi.intervene.scaled(gi.intervene.clamp([0, 2], [1.0, 0.5]), [4.0, 1.0, 8.0, 1.0])
    assert scaled.value == (4.0, 4.0)


def test_edits_refuse_wrong_features_and_widths():
    sae = identity_sae()
    with pytest.raises(gi.errors.GenointerpError, match="has 4 features"):
        gi.intervene.edit_function(sae, gi.intervene.ablate(7))
    with pytest.raises(gi.errors.GenointerpError, match="one value, or one per feature"):
        gi.intervene.clamp([0, 1], [1.0, 2.0, 3.0])
    edit = gi.intervene.edit_function(sae, gi.intervene.ablate(0))
    with pytest.raises(gi.errors.GenointerpError, match="reads 4"):
        edit(torch.zeros(1, 3, 8))


def test_ablation_recovers_the_planted_effect():
    """Ablating the A feature leaves the model uniform after an A: inside the poly-A runs
    the loss rises from the clean -log2 softmax(GAIN, 0, 0, 0)[A] to exactly 2 bits."""
    genome, tracks = planted_genome()
    model, sae = RepeatModel(), identity_sae()
    result = gi.intervene.ablation_effect(
        model,
        sae,
        genome,
        tracks,
        "onehot",
        [0, 1, 2, 3],
        positions=20_000,
        scored=512,
        controls=4,
        progress=False,
    )
    table = result.table.set_index("target")
    clean_in = -math.log2(math.exp(GAIN) / (math.exp(GAIN) + 3))
    # positions inside a run whose current base is A (all but a run's first, whose
    # current base is random): the rise is 2 - clean_in
    assert table.loc["0", "delta_in"] == pytest.approx(2 - clean_in, rel=0.02)
    for other in "123":  # C, G and T never fire inside a poly-A run, except at its first base
        assert abs(table.loc[other, "delta_in"]) < 0.1
    assert table.loc["0", "selectivity"] > 1.5 + table.loc[["1", "2", "3"], "selectivity"].max()
    assert table.loc["0", "positions"] > 1000 and result.positions > 19_000
    # the density columns are the features' firing rates: A is enriched by the runs
    assert table.loc["0", "density"] > table.loc["1", "density"] + 0.05


def test_ablation_controls_are_density_matched():
    density = np.array([0.0, 1e-4, 2e-4, 5e-3, 1e-2, 0.2, 0.3, 0.5])
    pool = gi.intervene.control_pool(density, 3, exclude=[7])
    assert 0 not in pool and 7 not in pool and len(pool) == 3
    assert np.all(np.diff(density[pool]) > 0)  # spread over densities


@pytest.mark.realdata
def test_ablation_on_the_built_in_model_runs_on_real_windows(ecoli):
    """The built-in model: ablating every feature of an identity SAE at blocks.1 is
    ablating the layer's positive half; the loss must rise everywhere."""
    genome, tracks = ecoli
    model = gi.models.load_model("tiny")
    from .test_sae import identity_sae as signed_identity_sae

    sae = signed_identity_sae(model.d_model)
    result = gi.intervene.ablation_effect(
        model,
        sae,
        genome,
        tracks,
        "blocks.1",
        {"all": list(range(2 * model.d_model))},
        concepts=["cds", "intergenic"],
        positions=8192,
        scored=4096,
        controls=4,
        progress=False,
    )
    row = result.table.set_index("concept").loc["cds"]
    assert row["delta_in"] > 0.1 and row["delta_out"] > 0.1
    assert 1.5 < result.clean_bits < 2.1


def test_sequence_measures_on_known_sequences():
    rng = np.random.default_rng(0)
    coding = "ATG" + "GCTGAAAAACTG" * 83 + "TAA"  # one 1,002-nt ORF, no stop before its end
    assert 999 in gi.intervene.orf_lengths(coding)  # ATG to its stop, the stop excluded
    random = "".join(rng.choice(list("ACGT"), 3000))
    assert max(gi.intervene.orf_lengths(random)) < 500
    assert gi.intervene.period3(coding) > 50 * gi.intervene.period3(random)
    assert 0.3 < gi.intervene.period3(random) < 3
    # random DNA: a stop every 64/3 codons on average, so mean ORFs of about 60 nt
    assert 30 < gi.intervene.measure(random)["mean_orf"] < 100
    assert gi.intervene.word_rate("GATCAAGATC", "GATC") == 200.0  # palindrome counted once
    assert gi.intervene.word_rate("AAAC" + "GTTT", "AAAC") == 250.0  # and its reverse complement


def test_steering_a_planted_feature_sets_what_is_generated():
    """The repeat model copies the last base; clamping the C feature high makes it write C
    whatever the prompt, in proportion to the clamp (a dose-response)."""
    model, sae = RepeatModel(gain=20.0), identity_sae()
    prompts = ["ACGTACGTAAAAAAAA", "ACGTACGTTTTTTTTT"] * 3
    free = gi.intervene.generate(model, prompts, 50, seed=1)
    assert free[0] == "A" * 50 and free[1] == "T" * 50  # gain 20: repeats with p = 1 - 6e-9
    result = gi.intervene.steer(
        model,
        sae,
        "onehot",
        1,
        prompts,
        [0.0, 0.5, 3.0],
        length=200,
        words=["CCCC"],
        progress=False,
    )
    dose = result.dose_response().set_index("strength")
    # clamp 0: C never fires, the model still repeats A or T; clamp 3: C's logit 60 beats
    # the repeated base's 20 at every step, so the output is all C
    assert dose.loc[0.0, "word_CCCC"] == 0
    assert result.sequences[(3.0, 0)] == "C" * 200 and result.sequences[(3.0, 1)] == "C" * 200
    assert dose.loc[0.0, "word_CCCC"] <= dose.loc[0.5, "word_CCCC"] <= dose.loc[3.0, "word_CCCC"]
    assert dose.loc[3.0, "gc"] == 1.0
    # read back by the unedited model: the all-C outputs fire feature C everywhere and
    # none of the others (whose activity, A or T, was all of the unsteered output's)
    assert dose.loc[3.0, "target_activity"] == 1.0 and dose.loc[3.0, "others_change"] == 1.0
    assert result.sequences[("none", 0)] == "A" * 200  # gain 20: the unsteered model repeats
    effect = result.effect("word_CCCC")
    assert effect["unsteered"] == 0 and effect["effect"] == dose.loc[3.0, "word_CCCC"]
    assert effect["rho"] > 0.8 and effect["others_change"] == 1.0
    # six prompts, all raised: the signed-rank test's smallest two-sided p, 2 / 2**6
    assert effect["p_value"] == pytest.approx(2 / 2**6)
    # no stop in A, T or C runs: the longest ORF is the same steered or not, so no test
    assert np.isnan(result.effect("longest_orf")["p_value"])
    assert effect["others_noise"] == 0  # the next seed repeats the prompt's last base too


@pytest.mark.realdata
def test_annotators_count_a_trna_in_generated_sequence(ecoli):
    genome, tracks = ecoli
    trna = tracks.elements("trna").iloc[0]
    gene = genome.fetch(trna["Chromosome"], int(trna["Start"]) - 30, int(trna["End"]) + 30)
    rng = np.random.default_rng(0)
    filler = "".join(rng.choice(list("ACGT"), 600))
    found = gi.intervene.annotated([filler + gene + filler, filler + filler], ["aragorn"])
    length_kb = (2 * len(filler) + len(gene)) / 1000
    assert found[0]["aragorn_tRNA"] == pytest.approx(1 / length_kb)
    assert found[1]["aragorn_tRNA"] == 0.0
