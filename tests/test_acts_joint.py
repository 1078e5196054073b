"""The joint strand view of an activation store (``blocks.0+rc``) and SAEs trained on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import genointerp as gi
from genointerp.acts import JOINT_SUFFIX, ActivationStore
from genointerp.errors import GenointerpError, SAEMismatchError
from genointerp.sae import DataConfig, OptimConfig, SAEConfig, SAETrainConfig, load_sae, train_sae

from .builders import planted_dictionary, store_from_rows, store_from_strands
from .conftest import DATA

D = 16


@pytest.fixture(scope="module")
def two_strands(tmp_path_factory):
    """A two-strand store whose rows say where they come from: column 0 is the genomic
    position / n, column 1 is +1 on '+' and -1 on '-'; the rest is planted-dictionary data."""
    n = 20_000
    plus, _ = planted_dictionary(n, d_in=D, n_atoms=32, seed=1)
    minus, _ = planted_dictionary(n, d_in=D, n_atoms=32, seed=2)
    plus[:, 0] = minus[:, 0] = np.arange(n) / n
    plus[:, 1], minus[:, 1] = 1.0, -1.0
    path = tmp_path_factory.mktemp("joint") / "two.h5"
    return store_from_strands(path, plus, minus, layers=("blocks.0", "blocks.1")), plus, minus


@pytest.fixture(scope="module")
def planted_two_strands(tmp_path_factory):
    """Each strand a sparse sum of its own planted atoms: joint rows are sums of 6 of 64."""
    plus, _ = planted_dictionary(20_000, d_in=D, n_atoms=32, seed=1)
    minus, _ = planted_dictionary(20_000, d_in=D, n_atoms=32, seed=2)
    path = tmp_path_factory.mktemp("planted") / "two.h5"
    return store_from_strands(path, plus, minus), plus, minus


def test_joint_read_is_own_strand_then_opposite_strand(two_strands):
    path, plus, minus = two_strands
    with ActivationStore(path) as store:
        layer = store.joint_layer("blocks.0")
        assert layer == "blocks.0" + JOINT_SUFFIX == "blocks.0+rc"
        assert store.is_joint(layer) and not store.is_joint("blocks.0")
        assert store.width(layer) == 2 * D and store.width("blocks.0") == D
        np.testing.assert_array_equal(
            store.read(layer, "synthetic", "+", 100, 350),
            np.concatenate([plus[100:350], minus[100:350]], axis=1),
        )
        np.testing.assert_array_equal(
            store.read(layer, "synthetic", "-", 7, 9),
            np.concatenate([minus[7:9], plus[7:9]], axis=1),
        )
        full = store.read(layer, "synthetic", "-")
        assert full.shape == (20_000, 2 * D)
        np.testing.assert_array_equal(full[:, D:], store.read("blocks.0", "synthetic", "+"))


def test_dataset_and_chunks_of_the_joint_view_follow_the_base_layer(two_strands):
    path, plus, minus = two_strands
    with ActivationStore(path) as store:
        view = store.dataset("blocks.1+rc", "synthetic", "+")
        base = store.dataset("blocks.1", "synthetic", "+")
        assert view.shape == (20_000, 2 * D) and len(view) == 20_000
        assert view.chunks == (base.chunks[0], 2 * D) and view.dtype == base.dtype
        np.testing.assert_array_equal(view[5], np.concatenate([plus[5], minus[5]]))
        np.testing.assert_array_equal(view[10:12, D + 1], minus[10:12, 1])
        assert view[()].shape == (20_000, 2 * D)
        assert store.chunks("blocks.1+rc") == store.chunks("blocks.1")
        assert {strand for _, strand, _, _ in store.chunks("blocks.1+rc")} == {"+", "-"}


def test_joint_view_of_a_store_written_by_version_0_1_0():
    with ActivationStore(DATA / "activation-store-0.1.0.h5") as store:
        for contig, length in store.contigs.items():
            for strand, other in (("+", "-"), ("-", "+")):
                joint = store.read("embed+rc", contig, strand, 0, length)
                assert joint.shape == (length, 2 * store.d_model)
                np.testing.assert_array_equal(
                    joint[:, : store.d_model], store.read("embed", contig, strand)
                )
                np.testing.assert_array_equal(
                    joint[:, store.d_model :], store.read("embed", contig, other)
                )


def test_unknown_base_layer_and_one_strand_store_are_refused(two_strands, tmp_path):
    path, _, _ = two_strands
    with ActivationStore(path) as store:
        with pytest.raises(
            GenointerpError,
            match=r"no layer 'blocks.9\+rc'. Fix: use one of blocks.0, blocks.1, blocks.0\+rc",
        ):
            store.read("blocks.9+rc", "synthetic", "+", 0, 10)
        with pytest.raises(GenointerpError, match=r"no layer 'blocks.9\+rc'"):
            store.joint_layer("blocks.9")
        with pytest.raises(GenointerpError, match=r"no layer 'blocks.0\+rc\+rc'"):
            store.width("blocks.0+rc+rc")
    rows, _ = planted_dictionary(5000, d_in=D, seed=3)
    with ActivationStore(store_from_rows(tmp_path / "plus.h5", rows)) as plus_only:
        assert plus_only.width("blocks.0") == D
        message = r"'blocks.0\+rc' needs both strands.*holds only \+\. Fix: use 'blocks.0', or"
        with pytest.raises(GenointerpError, match=message):
            plus_only.joint_layer("blocks.0")
        with pytest.raises(GenointerpError, match=message):
            plus_only.read("blocks.0+rc", "synthetic", "+", 0, 10)
        with pytest.raises(GenointerpError, match=message):
            plus_only.chunks("blocks.0+rc")


def _few_steps(store, layer: str, **extra) -> SAETrainConfig:
    return SAETrainConfig(
        sae=SAEConfig(architecture="topk", d_sae=128, k=8),
        data=DataConfig(store=str(store), layer=layer, batch_size=256, buffer_batches=4),
        optim=OptimConfig(lr=1e-2, warmup_steps=2),
        tokens=256 * 40,
        log_every=10,
        eval_every=40,
        checkpoint_every=40,
        **extra,
    )


def test_batches_of_the_joint_view_never_mix_positions_or_strands(two_strands):
    path, _, _ = two_strands
    with ActivationStore(path) as store:
        batches = gi.sae.ActivationBatches(store, "blocks.0+rc", 512, 4, seed=0)
        rows = np.concatenate([batches.batch(step).numpy() for step in range(8)])
        batches.close()
    assert rows.shape == (4096, 2 * D)
    np.testing.assert_array_equal(rows[:, 0], rows[:, D])  # same genomic position
    np.testing.assert_array_equal(rows[:, 1], -rows[:, D + 1])  # opposite strands
    assert set(np.unique(rows[:, 1])) == {-1.0, 1.0}  # both strands are trained on


def test_sae_trains_on_the_joint_view_and_refuses_plain_layers(planted_two_strands, tmp_path):
    path, plus, minus = planted_two_strands
    result = train_sae(_few_steps(path, "blocks.0+rc"), tmp_path / "joint", progress=False)
    assert result.complete and result.sae.d_in == 2 * D
    cfg = json.loads((tmp_path / "joint" / "cfg.json").read_text())
    provenance = cfg["genointerp"]["provenance"]
    assert cfg["d_in"] == provenance["d_model"] == 2 * D
    assert provenance["layer"] == "blocks.0+rc" and provenance["hook"] == "blocks.0.output+rc"
    sae, prov = load_sae(tmp_path / "joint", layer="blocks.0+rc")
    x = np.concatenate([plus[:64], minus[:64]], axis=1)  # (64, 2 * D)
    assert tuple(sae.encode(x).shape) == (64, 128)
    with pytest.raises(SAEMismatchError, match=r"layer 'blocks.0\+rc', not 'blocks.0'.*Fix"):
        load_sae(tmp_path / "joint", layer="blocks.0")
    metrics = gi.sae.evaluate_sae(sae, path, provenance=prov)  # held-out joint rows
    assert metrics.fvu < 0.5 and metrics.l0 == 8
    rows, _ = planted_dictionary(5000, d_in=D, seed=3)
    plus_only = store_from_rows(tmp_path / "plus.h5", rows)
    with pytest.raises(GenointerpError, match="needs both strands"):
        gi.sae.evaluate_sae(sae, plus_only, provenance=prov)
    with pytest.raises(GenointerpError, match="cannot be spliced.*Fix"):
        gi.sae.evaluate_sae(sae, path, provenance=prov, model=gi.models.load_model("tiny"))

    plain = train_sae(_few_steps(path, "blocks.0"), tmp_path / "plain", progress=False)
    assert plain.sae.d_in == D
    with pytest.raises(SAEMismatchError, match=r"layer 'blocks.0', not 'blocks.0\+rc'"):
        load_sae(tmp_path / "plain", layer="blocks.0+rc")


def test_training_refuses_a_missing_joint_view_and_loss_recovered_on_it(two_strands, tmp_path):
    path, _, _ = two_strands
    with pytest.raises(GenointerpError, match=r"no layer 'blocks.4\+rc'"):
        train_sae(_few_steps(path, "blocks.4+rc"), tmp_path / "a", progress=False)
    with pytest.raises(GenointerpError, match="cannot be spliced.*loss_windows: 0"):
        train_sae(_few_steps(path, "blocks.0+rc", loss_windows=2), tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
