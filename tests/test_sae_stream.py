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
    ModelBatches,
    OptimConfig,
    SAEConfig,
    SAETrainConfig,
    StreamConfig,
    train_sae,
)
from genointerp.sae._train import CHECKPOINT_FILE, _Run
from tests.builders import random_sequence, random_tiny, store_from_rows
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


# -- streaming from the model -----------------------------------------------------------------
@pytest.fixture(scope="module")
def genome_files(tmp_path_factory):
    """Two small genomes as FASTA files (one with a circular contig)."""
    folder = tmp_path_factory.mktemp("genomes")
    paths = []
    for index, lengths in enumerate([{"chrA": 9_000, "chrB": 3_000}, {"plasmid": 5_000}]):
        path = folder / f"g{index}.fa"
        seqs = {
            name: random_sequence(n, seed=10 * index + i)
            for i, (name, n) in enumerate(lengths.items())
        }
        path.write_text("".join(f">{name}\n{seq}\n" for name, seq in seqs.items()))
        paths.append(path)
    return paths


def sorted_rows(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort(rows.T[::-1])]


def test_streamed_rows_are_exactly_the_extracted_activations(genome_files, tmp_path):
    model = random_tiny(d_model=8)
    genome = gi.io.Genome.open(genome_files[0])
    spec = gi.acts.WindowSpec(window=2048, overlap=64, min_context=64)
    store = gi.acts.extract(
        genome, model, ["blocks.1"], tmp_path / "g.h5", window=2048, overlap=64,
        min_context=64, batch_size=1, store_dtype="float32", progress=False,
    )  # fmt: skip
    with gi.acts.ActivationStore(store) as opened:
        stored = np.concatenate(
            [opened.read("blocks.1", c, s) for c in opened.contigs for s in ("+", "-")]
        )
    for per_forward in (1, 3):
        batches = ModelBatches(model, [genome], "blocks.1", spec, "+-", per_forward, 512, 4,
                               seed=5, eval_fraction=0.2)  # fmt: skip
        epoch = batches.stream_rows(0, batches.train_rows)
        held_out = batches.eval_rows()
        assert len(epoch) + len(held_out) == len(stored) == 2 * 12_000
        streamed = np.concatenate([epoch, held_out])
        assert np.array_equal(sorted_rows(streamed), sorted_rows(stored)), per_forward
        # The second epoch is the same rows in another order; a batch depends on its step only.
        again = batches.stream_rows(batches.train_rows, 2 * batches.train_rows)
        assert np.array_equal(sorted_rows(again), sorted_rows(epoch))
        assert not np.array_equal(again, epoch)
        fresh = ModelBatches(model, [genome], "blocks.1", spec, "+-", per_forward, 512, 4,
                             seed=5, eval_fraction=0.2)  # fmt: skip
        assert torch.equal(fresh.batch(13), batches.batch(13))
        for one in (batches, fresh):
            one.close()


def stream_config(genome_files, tokens=256 * 30) -> SAETrainConfig:
    stream = StreamConfig(genomes=[str(p) for p in genome_files], window=2048, overlap=64,
                          min_context=64, windows_per_forward=2)  # fmt: skip
    config = config_for(["unused"], tokens=tokens, layer="blocks.1")
    config.data = DataConfig(source="model", layer="blocks.1", stream=stream, batch_size=256,
                             buffer_batches=8, eval_fraction=0.2, eval_tokens=4096)  # fmt: skip
    return config


def test_streaming_training_writes_no_activations_and_resumes_exactly(genome_files, tmp_path):
    config = stream_config(genome_files)
    whole = train_sae(config, tmp_path / "whole", progress=False)
    files = {p.name for p in (tmp_path / "whole").iterdir()}
    assert files == {"cfg.json", "sae_weights.safetensors", "metrics.json", "train_log.tsv",
                     CHECKPOINT_FILE}  # fmt: skip
    _, provenance = gi.sae.load_sae(tmp_path / "whole")
    genomes = [gi.io.Genome.open(p) for p in genome_files]
    both = "".join(f"{g.checksum}\n" for g in genomes)
    assert (
        provenance.data_checksum == "sha256-of-genomes:" + hashlib.sha256(both.encode()).hexdigest()
    )
    assert provenance.model_id == gi.models.load_model("tiny").model_id
    assert provenance.hook == "blocks.1.output" and provenance.store.startswith("streamed from")
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())["held_out"]
    assert metrics["fvu"] < 0.5  # learned something on windows it never trained on
    first = train_sae(config, tmp_path / "parts", stop_after=11, progress=False)
    assert not first.complete
    rest = train_sae(config, tmp_path / "parts", progress=False)
    assert same_weights(whole, rest)


def test_streaming_settings_are_checked_before_any_work(genome_files, tmp_path):
    with pytest.raises(ValueError, match="needs stream.genomes"):
        DataConfig(source="model")
    with pytest.raises(ValueError, match="reads no store"):
        DataConfig(source="model", store="x.h5", stream=StreamConfig(genomes=["g.fa"]))
    config = stream_config(genome_files)
    config.data.layer = "blocks.1+rc"
    with pytest.raises(GenointerpError, match="joint strand view is read from a store"):
        train_sae(config, tmp_path / "joint", progress=False)
    config.data.layer, config.data.eval_fraction = "blocks.1", 0.9
    with pytest.raises(GenointerpError, match="too few to hold out"):
        train_sae(config, tmp_path / "few", progress=False)
