"""Windows, extraction and the activation store: coverage, strands, resume, shards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import genointerp as gi
from genointerp.acts import (
    ActivationStore,
    WindowSpec,
    contig_windows,
    extract,
    merge,
    plan_windows,
)
from genointerp.errors import GenointerpError, StoreVersionError
from genointerp.models import reverse_complement, save_tiny

from .builders import random_genome, random_tiny, whole_pass

LAYER = "blocks.2"


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("circular", [False, True])
@pytest.mark.parametrize(("window", "overlap"), [(10, 4), (16, 8), (7, 6), (100, 30)])
def test_windows_keep_every_position_once_with_context(window, overlap, circular, causal):
    spec = WindowSpec(
        window, overlap, min_context=overlap if causal else overlap // 2, causal=causal
    )
    for length in [1, 5, window - 1, window, window + 1, 3 * window + 2, 257]:
        rows = contig_windows(length, spec, circular)
        kept = np.concatenate([np.arange(r[2], r[3]) for r in rows])
        assert np.array_equal(kept, np.arange(length)), (length, rows.tolist())
        for start, size, keep_start, keep_end in rows:
            assert size <= window
            left = keep_start - start
            right = start + size - keep_end
            true_start = start == 0 and not circular
            assert (
                left >= spec.min_context
                or true_start
                or length + (overlap if circular else 0) <= window
            )
            if not causal and not (circular or start + size == length):
                assert right >= spec.min_context


def test_window_spec_refuses_too_little_context():
    with pytest.raises(GenointerpError, match="min_context is 100. Fix: set overlap >= 100"):
        WindowSpec(window=1000, overlap=50, min_context=100)
    with pytest.raises(GenointerpError, match="both sides"):
        WindowSpec(window=1000, overlap=100, min_context=100, causal=False)
    with pytest.raises(GenointerpError, match="smaller than the window"):
        WindowSpec(window=100, overlap=100, min_context=0)


def test_plan_batches_hold_windows_of_one_length():
    spec = WindowSpec(64, 16, 16)
    plan = plan_windows([500, 30, 64, 0, 129], spec, strands=("+", "-"), batch_size=3)
    for batch in np.unique(plan["batch"]):
        rows = plan[plan["batch"] == batch]
        assert len(rows) <= 3 and len(set(rows["length"].tolist())) == 1
    assert np.all(np.diff(plan["batch"]) >= 0)  # batches follow plan order
    assert 3 not in plan["contig"]  # the empty contig has no window


def test_store_equals_whole_contig_pass_on_both_strands(tmp_path):
    """Windowing changes nothing when the context covers the receptive field (15 nt here).

    On '-', the activation stored at genomic position p is the model's output at
    position n-1-p of the reverse complement, which is where it reads base p.
    """
    model = random_tiny()
    genome = random_genome({"chrA": 1000, "chrB": 37, "plasmid": 300}, circular=["plasmid"])
    path = extract(
        genome,
        model,
        [LAYER],
        tmp_path / "a.h5",
        window=64,
        min_context=16,
        batch_size=4,
        progress=False,
    )
    with ActivationStore(path) as store:
        for contig in ["chrA", "chrB"]:
            seq = genome.fetch(contig)
            n = len(seq)
            plus = whole_pass(model, seq, LAYER)
            rc = reverse_complement(np.frombuffer(seq.encode(), np.uint8)).tobytes().decode()
            minus = whole_pass(model, rc, LAYER)
            np.testing.assert_array_equal(store.read(LAYER, contig, "+"), plus.astype(np.float16))
            stored_minus = store.read(LAYER, contig, "-")
            for p in [0, 1, n // 2, n - 1]:
                np.testing.assert_array_equal(stored_minus[p], minus[n - 1 - p].astype(np.float16))
            np.testing.assert_array_equal(stored_minus, minus[::-1].astype(np.float16))
        # A circular contig is read with the end of the contig as context for its start.
        seq = genome.fetch("plasmid")
        wrapped = whole_pass(model, seq[-16:] + seq, LAYER)[16:]
        np.testing.assert_array_equal(store.read(LAYER, "plasmid", "+"), wrapped.astype(np.float16))
        assert store.file.attrs["encoding-type"] == "activation-store"
        assert store.genome_checksum == genome.checksum
        assert store.complete and store.n_positions == 2 * 1337


def test_short_context_differs_from_whole_pass(tmp_path):
    """A control: with less context than the receptive field, window starts do change values."""
    model = random_tiny()
    genome = random_genome({"chrA": 400})
    path = extract(
        genome,
        model,
        [LAYER],
        tmp_path / "a.h5",
        window=64,
        overlap=4,
        min_context=4,
        progress=False,
    )
    with ActivationStore(path) as store:
        stored = store.read(LAYER, "chrA", "+")
    assert not np.array_equal(
        stored, whole_pass(model, genome.fetch("chrA"), LAYER).astype(np.float16)
    )


def test_shards_merge_into_the_unsharded_store(tmp_path):
    model = random_tiny()
    genome = random_genome({"chrA": 2000, "chrB": 500})
    kwargs = dict(window=64, min_context=16, batch_size=4, progress=False)
    whole = extract(genome, model, [LAYER, "embed"], tmp_path / "whole.h5", **kwargs)
    parts = [
        extract(genome, model, [LAYER, "embed"], tmp_path / "acts.h5", shard=f"{i}/3", **kwargs)
        for i in range(3)
    ]
    assert [p.name for p in parts] == [f"acts.shard-{i}-of-3.h5" for i in range(3)]
    with pytest.raises(GenointerpError, match="none of the shards given"):
        merge(parts[:2], tmp_path / "bad.h5", progress=False)
    assert not (tmp_path / "bad.h5").exists()
    merged = merge(parts, tmp_path / "merged.h5", progress=False)
    _assert_same_store(whole, merged)


def test_slurm_array_task_picks_the_shard(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "4")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    assert gi.acts.parse_shard(None) == (1, 2)
    with pytest.raises(GenointerpError, match="i/n"):
        gi.acts.parse_shard("1-2")


def test_partial_store_from_another_model_is_refused(tmp_path):
    genome = random_genome({"chrA": 300})
    out = tmp_path / "a.h5"
    extract(genome, random_tiny(seed=0), [LAYER], out, window=64, min_context=16, progress=False)
    with pytest.raises(GenointerpError, match="another layers"):  # a finished store is checked too
        extract(
            genome, random_tiny(seed=0), ["embed"], out, window=64, min_context=16, progress=False
        )
    os.replace(out, str(out) + ".partial")  # pretend it was interrupted
    with pytest.raises(GenointerpError, match="another model_id .*--overwrite"):
        extract(
            genome, random_tiny(seed=1), [LAYER], out, window=64, min_context=16, progress=False
        )
    other = random_genome({"chrA": 300}, seed=9)
    with pytest.raises(GenointerpError, match="another genome checksum"):
        extract(other, random_tiny(seed=0), [LAYER], out, window=64, min_context=16, progress=False)


def test_store_errors_name_the_file_and_the_fix(tmp_path):
    genome = random_genome({"chrA": 300})
    path = extract(
        genome, random_tiny(), [LAYER], tmp_path / "a.h5", window=64, min_context=16, progress=False
    )
    with ActivationStore(path) as store:
        with pytest.raises(GenointerpError, match="no layer 'blocks.9'. Fix: use one of blocks.2"):
            store.read("blocks.9", "chrA")
        with pytest.raises(GenointerpError, match="no contig 'chrZ'"):
            store.read(LAYER, "chrZ")
    with h5py.File(path, "r+") as f:
        f.attrs["encoding-version"] = "9.9.9"
    with pytest.raises(StoreVersionError, match="version 9.9.9"):
        ActivationStore(path)
    truncated = tmp_path / "t.h5"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(StoreVersionError, match="not a readable HDF5 file.*extract again"):
        ActivationStore(truncated)
    with pytest.raises(gi.models.LayerError, match="did you mean 'blocks.2'"):
        extract(genome, random_tiny(), ["block.2"], tmp_path / "b.h5", progress=False)


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_store(tmp_path):
    weights = save_tiny(random_tiny().model, tmp_path / "model")
    genome = random_genome({"chrA": 150_000, "chrB": 40_000, "chrC": 999})
    fasta = tmp_path / "genome.fa"
    fasta.write_text("".join(f">{c}\n{genome.fetch(c)}\n" for c in genome.names))
    out = tmp_path / "acts.h5"
    command = [
        sys.executable,
        "-m",
        "genointerp",
        "-q",
        "extract",
        "--genome",
        str(fasta),
        "--weights",
        str(weights),
        "--layers",
        f"{LAYER},embed",
        "--window",
        "256",
        "--overlap",
        "16",
        "--batch-size",
        "2",
        "-o",
        str(out),
    ]
    partial = tmp_path / "acts.h5.partial"
    rng = np.random.default_rng(0)
    progress = 0
    for _ in range(3):  # kill it three times, each at a random moment after some progress
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = progress + int(rng.integers(1, 40))
        while _batches_done(partial) < target and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0, 0.05)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not out.exists(), "the job finished before it could be killed; make it longer"
        with ActivationStore(partial) as store:
            done = store.done
        assert progress < done.sum() < len(done)
        progress = int(done.sum())
    subprocess.run(command, check=True, capture_output=True)
    assert out.exists() and not partial.exists()
    reference = extract(
        genome,
        gi.models.load_tiny(weights),
        [LAYER, "embed"],
        tmp_path / "ref.h5",
        window=256,
        overlap=16,
        batch_size=2,
        progress=False,
    )
    _assert_same_store(reference, out)


def _batches_done(path) -> int:
    """Batches a running extraction has finished (read without taking the HDF5 file lock)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f["done"][()].sum())
    except (OSError, KeyError):
        return 0  # not created yet


def _assert_same_store(a, b) -> None:
    with ActivationStore(a) as x, ActivationStore(b) as y:
        assert x.layers == y.layers and x.contigs == y.contigs and y.complete
        np.testing.assert_array_equal(x.plan, y.plan)
        for layer in x.layers:
            for contig in x.contigs:
                for strand in x.strands:
                    np.testing.assert_array_equal(
                        x.read(layer, contig, strand), y.read(layer, contig, strand)
                    )


def test_reads_a_store_written_by_version_0_1_0():
    """A small store kept from format 0.1.0 still reads, and holds what the model computes."""
    from .conftest import DATA

    with ActivationStore(DATA / "activation-store-0.1.0.h5") as store:
        assert store.file.attrs["encoding-version"] == "0.1.0"
        assert store.layers == ["blocks.2", "embed"] and store.contigs == {
            "chrA": 300,
            "plasmid": 90,
        }
        genome = random_genome({"chrA": 300, "plasmid": 90}, circular=["plasmid"], seed=3)
        assert store.genome_checksum == genome.checksum
        expected = whole_pass(random_tiny(seed=0), genome.fetch("chrA"), "blocks.2")
        np.testing.assert_allclose(store.read("blocks.2", "chrA", "+"), expected, atol=2e-3)


def test_masked_model_defaults_keep_context_on_both_sides(tmp_path):
    """With only min_context given, a masked model gets overlap 2 x min_context by default."""
    model = random_tiny()
    model.causal = False  # windowing for a bidirectional model (the values are irrelevant here)
    model.context_length = 0  # no known limit: the default window applies
    genome = random_genome({"chrA": 500})
    path = extract(
        genome, model, [LAYER], tmp_path / "m.h5", window=64, min_context=8, progress=False
    )
    with ActivationStore(path) as store:
        assert store.window == WindowSpec(64, 16, 8, causal=False) and store.complete
        plan = store.plan
    for row in plan[plan["strand"] == 0]:
        left, right = (
            row["keep_start"] - row["start"],
            row["start"] + row["length"] - row["keep_end"],
        )
        assert (left >= 8 or row["start"] == 0) and (right >= 8 or row["keep_end"] == 500)
