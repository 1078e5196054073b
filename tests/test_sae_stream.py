"""SAE training data at scale: several stores in one run, preemption, streaming from the model."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import genointerp as gi
from genointerp.errors import GenointerpError, Preempted
from genointerp.sae import (
    ActivationBatches,
    DataConfig,
    OptimConfig,
    SAEConfig,
    SAETrainConfig,
    train_sae,
)
from genointerp.sae._train import CHECKPOINT_FILE, _Run
from tests.builders import store_from_rows
from tests.conftest import REPO


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


# -- preemption -------------------------------------------------------------------------------
def same_weights(a: gi.sae.TrainResult, b: gi.sae.TrainResult) -> bool:
    other = b.sae.state_dict()
    return all(torch.equal(t, other[name]) for name, t in a.sae.state_dict().items())


@pytest.fixture(scope="module")
def uninterrupted(two_stores, tmp_path_factory):
    return train_sae(config_for(two_stores), tmp_path_factory.mktemp("whole"), progress=False)


def preempt_inside_step(monkeypatch, at_step: int, how):
    """Call ``how()`` in the middle of step ``at_step`` (after the weights moved)."""
    count_firing = _Run._count_firing

    def interrupted(self, features, signals):
        if self.step == at_step:
            how()
        return count_firing(self, features, signals)

    monkeypatch.setattr(_Run, "_count_firing", interrupted)


def test_sigusr1_mid_step_checkpoints_after_that_step_and_resumes_exactly(
    two_stores, uninterrupted, tmp_path, monkeypatch
):
    def scheduler(number, frame):
        raise Preempted(signal.Signals(number).name)

    previous = signal.signal(signal.SIGUSR1, scheduler)
    try:
        preempt_inside_step(monkeypatch, 12, lambda: os.kill(os.getpid(), signal.SIGUSR1))
        with pytest.raises(Preempted, match="SIGUSR1"):
            train_sae(config_for(two_stores), tmp_path, progress=False)
        assert signal.getsignal(signal.SIGUSR1) is scheduler  # the handler is given back
    finally:
        signal.signal(signal.SIGUSR1, previous)
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert saved["step"] == 13  # the step the signal fell in was finished, then saved
    assert not (tmp_path / "sae_weights.safetensors").exists()
    monkeypatch.undo()
    resumed = train_sae(config_for(two_stores), tmp_path, progress=False)
    assert resumed.complete and same_weights(uninterrupted, resumed)


def test_preempted_between_steps_saves_there_and_inside_a_step_keeps_the_last_checkpoint(
    two_stores, uninterrupted, tmp_path, monkeypatch
):
    config = config_for(two_stores)
    step = _Run._step

    def between(self, model, signals):
        if self.step == 8:
            raise Preempted("SIGTERM")
        return step(self, model, signals)

    monkeypatch.setattr(_Run, "_step", between)
    with pytest.raises(Preempted):
        train_sae(config, tmp_path / "between", progress=False)
    assert torch.load(tmp_path / "between" / CHECKPOINT_FILE, weights_only=True)["step"] == 8
    monkeypatch.undo()
    # Raised inside a step (not through a deferred signal): the weights moved but the
    # step did not end, so nothing is saved past the last periodic checkpoint (step 10).
    preempt_inside_step(monkeypatch, 12, lambda: (_ for _ in ()).throw(Preempted("SIGTERM")))
    with pytest.raises(Preempted):
        train_sae(config, tmp_path / "inside", progress=False)
    assert torch.load(tmp_path / "inside" / CHECKPOINT_FILE, weights_only=True)["step"] == 10
    monkeypatch.undo()
    for folder in ("between", "inside"):
        resumed = train_sae(config, tmp_path / folder, progress=False)
        assert same_weights(uninterrupted, resumed), folder


DDP_WORKER = """
import json, os, signal, sys
import torch
from genointerp.errors import PREEMPTED_EXIT, Preempted
from genointerp.sae import SAETrainConfig, train_sae
from genointerp.sae._train import _Run

def scheduler(number, frame):
    raise Preempted("SIGUSR1")

signal.signal(signal.SIGUSR1, scheduler)
rank, at = int(os.environ["RANK"]), int(sys.argv[3])
count_firing = _Run._count_firing

def interrupted(self, features, signals):
    if rank == 1 and self.step == at:  # only one process is warned
        os.kill(os.getpid(), signal.SIGUSR1)
    return count_firing(self, features, signals)

_Run._count_firing = interrupted
config = SAETrainConfig.from_dict(json.loads(open(sys.argv[1]).read()))
try:
    result = train_sae(config, sys.argv[2], progress=False)
except Preempted:
    sys.exit(PREEMPTED_EXIT)
torch.save(result.sae.state_dict(), os.path.join(sys.argv[2], f"rank{rank}.pt"))
"""


def test_ddp_processes_stop_after_the_same_step_when_one_is_warned(two_stores, tmp_path):
    config = config_for(two_stores, tokens=256 * 24)
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    (tmp_path / "worker.py").write_text(DDP_WORKER)

    def torchrun(out: str, at: int) -> int:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node=2", str(tmp_path / "worker.py"),
            str(tmp_path / "config.json"), str(tmp_path / out), str(at),
        ]  # fmt: skip
        env = os.environ | {"OMP_NUM_THREADS": "1"}
        run = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
        assert run.returncode in (0, 1), run.stderr[-3000:]  # torchrun: 1 if a worker failed
        return run.returncode

    assert torchrun("whole", -1) == 0
    assert torchrun("parts", 7) == 1  # both processes exited with 75 (torchrun reports 1)
    assert torch.load(tmp_path / "parts" / CHECKPOINT_FILE, weights_only=True)["step"] == 8
    assert torchrun("parts", -1) == 0
    for rank in (0, 1):
        whole = torch.load(tmp_path / "whole" / f"rank{rank}.pt", weights_only=True)
        parts = torch.load(tmp_path / "parts" / f"rank{rank}.pt", weights_only=True)
        assert all(torch.equal(whole[name], parts[name]) for name in whole), rank
