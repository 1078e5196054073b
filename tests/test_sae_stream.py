"""SAE training data at scale: several stores in one run, preemption, streaming from the model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import genointerp as gi
from genointerp.errors import GenointerpError
from genointerp.sae import (
    ActivationBatches,
    DataConfig,
    OptimConfig,
    SAEConfig,
    SAETrainConfig,
    train_sae,
)
from tests.builders import store_from_rows


def marked_rows(n: int, mark: float, seed: int) -> np.ndarray:
    """Random rows whose column 0 is the row's index and column 1 ``mark``: (n, 8)."""
    rows = np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)
    rows[:, 0], rows[:, 1] = np.arange(n), mark
    return rows


@pytest.fixture(scope="module")
def two_stores(tmp_path_factory):
    """Two genomes' stores of one model and layer: 48,000 rows marked 0, 16,000 marked 1."""
    folder = tmp_path_factory.mktemp("stores")
    big = store_from_rows(folder / "big.h5", marked_rows(48_000, 0.0, 1))
    small = store_from_rows(folder / "small.h5", marked_rows(16_000, 1.0, 2))
    return big, small


def config_for(stores, tokens=256 * 40, **data) -> SAETrainConfig:
    return SAETrainConfig(
        sae=SAEConfig(architecture="topk", d_sae=32, k=4),
        data=DataConfig(
            store=str(stores[0]),
            stores=[str(s) for s in stores[1:]],
            batch_size=256,
            buffer_batches=8,
            eval_fraction=0.2,
            **data,
        ),
        optim=OptimConfig(lr=3e-3, warmup_steps=5),
        tokens=tokens,
        dead_tokens=1024,
        checkpoint_every=5,
        eval_every=20,
    )


# -- several stores in one run ----------------------------------------------------------------
def test_stores_are_mixed_in_proportion_and_keep_their_own_held_out_chunks(two_stores):
    big_path, small_path = two_stores
    with gi.acts.ActivationStore(big_path) as big, gi.acts.ActivationStore(small_path) as small:
        both = ActivationBatches([big, small], "blocks.0", 512, 8, seed=3, eval_fraction=0.2)
        epoch = both.stream_rows(0, both.train_rows)
        keys = {(int(m), int(i)) for i, m in epoch[:, :2]}
        assert len(keys) == len(epoch) == both.train_rows  # every training row once per epoch
        # Each store holds out exactly the chunks it holds out when trained alone, so
        # evaluate_sae on either store finds the held-out rows.
        alone = [
            ActivationBatches(s, "blocks.0", 512, 8, seed=3, eval_fraction=0.2)
            for s in (big, small)
        ]
        for mark, one in enumerate(alone):
            own = {int(i) for i, m in epoch[:, :2] if m == mark}
            assert own == {int(i) for i in one.stream_rows(0, one.train_rows)[:, 0]}
            assert own.isdisjoint(one.eval_rows()[:, 0].astype(int))
        held_out = both.eval_rows()
        assert {0.0, 1.0} == set(held_out[:, 1]) and len(held_out) == sum(
            len(one.eval_rows()) for one in alone
        )
        assert set(both.eval_rows(2 * 4096)[:, 1]) == {0.0, 1.0}  # a capped evaluation sees both
        # Shuffled together (about 3:1 in each half of an epoch), not store after store.
        half = both.train_rows // 2
        for part in (epoch[:half, 1], epoch[half:, 1]):
            assert 0.1 < part.mean() < 0.45
        for one in (both, *alone):
            one.close()


def test_training_on_several_stores_records_them_all(two_stores, tmp_path):
    big, small = two_stores
    result = train_sae(config_for([big, small]), tmp_path / "mixed", progress=False)
    _, provenance = gi.sae.load_sae(tmp_path / "mixed")
    with gi.acts.ActivationStore(big) as a, gi.acts.ActivationStore(small) as b:
        both = f"{a.genome_checksum}\n{b.genome_checksum}\n"
        assert a.genome_checksum != b.genome_checksum
    expected = "sha256-of-genomes:" + hashlib.sha256(both.encode()).hexdigest()
    assert provenance.data_checksum == expected
    assert provenance.store == f"{big}; {small}"
    assert result.complete and provenance.tokens == 256 * 40
    # The stores are part of the training data: resuming with another list is refused.
    config = config_for([big])
    config.tokens = 256 * 80
    with pytest.raises(GenointerpError, match=r"other settings \(data"):
        train_sae(config, tmp_path / "mixed", progress=False)


def test_a_store_of_another_model_or_width_or_named_twice_is_refused(two_stores, tmp_path):
    big, _ = two_stores
    other_model = store_from_rows(tmp_path / "m.h5", marked_rows(8_000, 0, 3), model_id="tiny:x")
    wider = store_from_rows(tmp_path / "w.h5", np.zeros((8_000, 16), np.float32))
    other_layer = store_from_rows(tmp_path / "l.h5", marked_rows(8_000, 0, 4), layer="blocks.3")
    cases = [
        (other_model, r"m\.h5: activations of model 'tiny:x', not 'tiny:synthetic'"),
        (wider, r"w\.h5: activations of width 16 at 'blocks\.0', not 8"),
        (other_layer, r"l\.h5: no layer 'blocks\.0'\. Fix: use one of blocks\.3"),
        (big, r"big\.h5: named twice"),
    ]
    for store, message in cases:
        with pytest.raises(GenointerpError, match=message) as caught:
            train_sae(config_for([big, store]), tmp_path / "refused", progress=False)
        assert "\n" not in str(caught.value)
    assert not (tmp_path / "refused").exists()
