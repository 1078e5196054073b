"""SAEs: architectures learn planted dictionaries, metrics, save/load, importers, resume, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import genointerp as gi
from genointerp.cli import main
from genointerp.errors import (
    GenointerpError,
    SAEMismatchError,
    StoreVersionError,
    UnsafeCheckpointError,
)
from genointerp.sae import (
    ActivationBatches,
    DataConfig,
    OptimConfig,
    Provenance,
    SAEConfig,
    SAETrainConfig,
    build_sae,
    import_sae,
    load_sae,
    measure,
    save_sae,
    train_sae,
)
from genointerp.sae._train import lr_factor
from tests.builders import planted_dictionary, random_tiny, store_from_rows
from tests.conftest import REPO

# Penalty settings that give about 3 active features per row on the planted data.
PLANTED = {
    "topk": {"k": 3},
    "batchtopk": {"k": 3},
    "relu": {"l1_coefficient": 0.4},
    "jumprelu": {
        "l0_coefficient": 0.03,
        "jumprelu_init_threshold": 0.1,
        "jumprelu_bandwidth": 0.05,
    },
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    rows, atoms = planted_dictionary(100_000, d_in=32, n_atoms=64, active=3, seed=0)
    path = store_from_rows(tmp_path_factory.mktemp("planted") / "planted.h5", rows)
    return path, rows, atoms


def small_config(store, architecture="topk", tokens=1024 * 500, **sae) -> SAETrainConfig:
    return SAETrainConfig(
        sae=SAEConfig(architecture=architecture, d_sae=128, **sae),
        data=DataConfig(store=str(store), batch_size=1024, buffer_batches=16),
        optim=OptimConfig(lr=1e-2, warmup_steps=50),
        tokens=tokens,
        dead_tokens=50_000,
        log_every=50,
        eval_every=250,
        checkpoint_every=1000,
    )


def best_cosines(sae, atoms: np.ndarray) -> np.ndarray:
    """For each true atom, the best cosine with any decoder row."""
    w = sae.W_dec.detach().numpy()
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    return (atoms @ w.T).max(1)


@pytest.mark.parametrize(
    ("architecture", "tied"),
    [("topk", False), ("batchtopk", False), ("relu", False), ("jumprelu", False)]
    + [("topk", True), ("batchtopk", True)],
)
def test_each_architecture_recovers_a_planted_dictionary(planted, tmp_path, architecture, tied):
    store, rows, atoms = planted
    config = small_config(store, architecture, tied=tied, **PLANTED[architecture])
    train_sae(config, tmp_path, progress=False)
    sae, provenance = load_sae(tmp_path)  # the saved, scale-folded SAE on raw rows
    cosines = best_cosines(sae, atoms)
    assert cosines.min() > 0.9, f"worst atom cosine {cosines.min():.3f}"
    metrics = measure(sae, rows[:20_000])
    assert metrics.fvu < 0.2  # L1 shrinkage costs relu the most
    assert 2.0 < metrics.l0 < 4.5  # about the 3 planted atoms per row, in inference mode
    assert provenance.normalisation_scale != 1.0
    assert sae.tied == tied


def test_untrained_sae_does_not_recover_the_dictionary(planted):
    """Control for the test above: random decoders are far from the atoms."""
    _, _, atoms = planted
    torch.manual_seed(0)
    assert best_cosines(build_sae(SAEConfig(d_sae=128), 32), atoms).max() < 0.9


def numpy_fvu(x: np.ndarray, x_hat: np.ndarray) -> float:
    x, x_hat = x.astype(np.float64), x_hat.astype(np.float64)
    return ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()


def test_fvu_accumulated_over_batches_matches_numpy():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5000, 16)) + 3.0).astype(np.float32)  # far from zero mean
    torch.manual_seed(1)
    sae = build_sae(SAEConfig(architecture="relu", d_sae=64), 16).eval()
    with torch.no_grad():
        x_hat = sae.decode(sae.encode(torch.from_numpy(x))).numpy()
    metrics = measure(sae, x, batch_size=777)  # uneven batches
    expected = numpy_fvu(x, x_hat)
    assert metrics.fvu == pytest.approx(expected, rel=1e-10)
    about_zero = ((x - x_hat) ** 2).sum() / (x.astype(np.float64) ** 2).sum()
    assert abs(expected - about_zero) > 0.1  # the mean matters, and is subtracted
    features = sae.encode(torch.from_numpy(x)).detach().numpy()
    assert metrics.l0 == pytest.approx((features > 0).sum(1).mean())
    assert metrics.dead_fraction == pytest.approx(((features > 0).sum(0) == 0).mean())
    assert metrics.dense_fraction == pytest.approx(((features > 0).mean(0) > 0.1).mean())
    counts, _ = metrics.density_histogram()
    assert counts.sum() == ((features > 0).sum(0) > 0).sum()


def trained_looking(architecture: str, tied: bool = False, seed: int = 0):
    """An SAE with random non-trivial weights, biases and thresholds."""
    torch.manual_seed(seed)
    sae = build_sae(SAEConfig(architecture=architecture, d_sae=48, k=5, tied=tied), 12)
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(0.1 * torch.randn_like(p))
        if architecture == "batchtopk":
            sae.set_threshold(torch.full((48,), 0.05))
    return sae.eval()


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "relu", "jumprelu"])
@pytest.mark.parametrize("tied", [False, True])
def test_save_load_round_trip_is_exact(tmp_path, architecture, tied):
    sae = trained_looking(architecture, tied)
    provenance = Provenance(model_id="tiny:m", layer="blocks.3", hook="blocks.3.output", d_model=12)
    save_sae(sae, tmp_path, provenance)
    loaded, read = load_sae(tmp_path, model_id="tiny:m", layer="blocks.3")
    assert read == provenance
    assert type(loaded) is type(sae) and loaded.tied == tied
    x = torch.randn(300, 12)
    with torch.no_grad():
        assert torch.equal(sae.encode(x), loaded.encode(x))
        assert torch.equal(sae.decode(sae.encode(x)), loaded.decode(loaded.encode(x)))
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["d_in"] == 12 and cfg["d_sae"] == 48  # SAELens's keys at the top level


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "relu", "jumprelu"])
def test_folding_the_scale_makes_the_sae_take_raw_inputs(architecture):
    sae = trained_looking(architecture)
    folded = trained_looking(architecture)
    scale = 0.37
    folded.fold_scale(scale)
    x = torch.randn(200, 12) * 3
    with torch.no_grad():
        torch.testing.assert_close(folded.encode(x), sae.encode(x * scale) / scale)
        recon = folded.decode(folded.encode(x))
        torch.testing.assert_close(recon, sae.decode(sae.encode(x * scale)) / scale)
    assert torch.equal(folded.W_dec, sae.W_dec)  # weights untouched, unit norms kept


def test_sae_for_another_model_or_layer_is_refused(tmp_path):
    save_sae(trained_looking("topk"), tmp_path, Provenance(model_id="tiny:a", layer="blocks.3"))
    with pytest.raises(SAEMismatchError, match=r"model 'tiny:a', not 'tiny:b'.*Fix:"):
        load_sae(tmp_path, model_id="tiny:b")
    with pytest.raises(SAEMismatchError, match=r"layer 'blocks.3', not 'blocks.7'"):
        load_sae(tmp_path, layer="blocks.7")
    (tmp_path / "cfg.json").write_text("{not json")
    with pytest.raises(StoreVersionError, match="not valid JSON"):
        load_sae(tmp_path)


# -- importers ----------------------------------------------------------------------------
def write_saelens(path, architecture: str, cfg_extra: dict, tensors: dict) -> None:
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    d_in, d_sae = tensors["W_enc"].shape
    cfg = {
        "architecture": architecture,
        "d_in": d_in,
        "d_sae": d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "metadata": {"model_name": "some-model", "hook_name": "blocks.2.hook_resid_post"},
        **cfg_extra,
    }
    (path / "cfg.json").write_text(json.dumps(cfg))
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, str(path / "sae_weights.safetensors")
    )


def random_tensors(d_in=10, d_sae=40, seed=0, threshold=False):
    g = torch.Generator().manual_seed(seed)
    tensors = {
        "W_enc": torch.randn(d_in, d_sae, generator=g) * 0.3,
        "W_dec": torch.randn(d_sae, d_in, generator=g) * 0.3,
        "b_enc": torch.randn(d_sae, generator=g) * 0.1,
        "b_dec": torch.randn(d_in, generator=g) * 0.1,
    }
    if threshold:
        tensors["threshold"] = torch.rand(d_sae, generator=g) * 0.3
    return tensors


def reference_encode(kind: str, x: np.ndarray, t: dict, k: int = 4) -> np.ndarray:
    """SAELens's inference maths written out in numpy."""
    t = {name: v.numpy().astype(np.float64) for name, v in t.items()}
    pre = (x - t["b_dec"]) @ t["W_enc"] + t["b_enc"]
    if kind == "standard":
        return np.maximum(pre, 0)
    if kind == "jumprelu":
        return pre * (pre > t["threshold"])
    keep = np.argsort(-pre, axis=1)[:, :k]
    out = np.zeros_like(pre)
    np.put_along_axis(out, keep, np.maximum(np.take_along_axis(pre, keep, 1), 0), axis=1)
    return out


@pytest.mark.parametrize(
    ("kind", "cfg_extra"),
    [
        ("topk", {"k": 4}),
        ("standard", {}),
        ("jumprelu", {}),
        ("standard", {"activation_fn_str": "topk", "activation_fn_kwargs": {"k": 4}}),  # < 6.0
    ],
)
def test_saelens_import_matches_saelens_maths_and_round_trips(tmp_path, kind, cfg_extra):
    tensors = random_tensors(threshold=kind == "jumprelu")
    write_saelens(tmp_path / "saelens", kind, cfg_extra, tensors)
    sae, provenance = import_sae(
        "saelens", tmp_path / "saelens", tmp_path / "ours", model_id="tiny:m", layer="blocks.2"
    )
    x = np.random.default_rng(0).standard_normal((64, 10))
    reference = "topk" if cfg_extra.get("activation_fn_str") == "topk" else kind
    expected = reference_encode(reference, x, tensors)
    with torch.no_grad():
        got = sae.encode(torch.from_numpy(x).float()).double().numpy()
        recon = sae.decode(torch.from_numpy(got).float()).double().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(
        recon, got @ tensors["W_dec"].double().numpy() + tensors["b_dec"].numpy(), atol=1e-5
    )
    assert (provenance.model_id, provenance.layer) == ("tiny:m", "blocks.2")
    # Our saved copy loads back identically, and is itself readable as a SAELens checkpoint.
    again, _ = load_sae(tmp_path / "ours", model_id="tiny:m", layer="blocks.2")
    back, _ = import_sae("saelens", tmp_path / "ours")
    xt = torch.from_numpy(x).float()
    with torch.no_grad():
        assert torch.equal(again.encode(xt), sae.encode(xt))
        assert torch.equal(back.encode(xt), sae.encode(xt))


def test_saelens_import_refuses_unknown_architecture(tmp_path):
    write_saelens(tmp_path, "gated", {}, random_tensors())
    with pytest.raises(GenointerpError, match="architecture 'gated' is not supported"):
        import_sae("saelens", tmp_path)


def goodfire_state(d_model=16, d_sae=64, seed=0, prefix="_orig_mod."):
    g = torch.Generator().manual_seed(seed)
    return {
        f"{prefix}W": torch.randn(d_model, d_sae, generator=g) * 0.2,
        f"{prefix}b_enc": torch.randn(d_sae, generator=g) * 0.05,
        f"{prefix}b_dec": torch.randn(d_model, generator=g) * 0.05,
    }


@pytest.mark.parametrize("prefix", ["_orig_mod.", ""])
def test_goodfire_evo2_import_is_tied_batch_topk(tmp_path, prefix):
    state = goodfire_state(prefix=prefix)
    torch.save(state, tmp_path / "sae.pt")
    sae, provenance = import_sae(
        "goodfire-evo2", tmp_path / "sae.pt", tmp_path / "out", k=8, model_id="evo2:evo2_7b",
        layer="blocks.26",
    )  # fmt: skip
    w, b_enc, b_dec = (state[f"{prefix}{name}"].double() for name in ("W", "b_enc", "b_dec"))
    x = torch.randn(32, 16, dtype=torch.float64)
    pre = torch.relu(x @ w + b_enc)  # ReLU(x @ W + b_enc), no b_dec subtracted
    cutoff = pre.flatten().topk(8 * 32).values.min()
    expected = pre * (pre >= cutoff)  # batch top-k: 8 x 32 largest of the whole batch
    with torch.no_grad():
        got = sae.encode(x.float()).double()
        recon = sae.decode(got.float()).double()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(recon, got @ w.T + b_dec, atol=1e-5, rtol=1e-5)
    assert int((got > 0).sum()) == 8 * 32
    assert sae.tied and provenance.source == "goodfire-evo2"
    loaded, _ = load_sae(tmp_path / "out", model_id="evo2:evo2_7b", layer="blocks.26")
    with torch.no_grad():
        assert torch.equal(loaded.encode(x.float()), sae.encode(x.float()))


class NotWeights:  # a pickled object: torch.load(weights_only=True) must refuse it
    pass


def test_goodfire_import_refuses_pickled_code_and_wrong_keys(tmp_path):
    torch.save({"W": NotWeights()}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeCheckpointError, match="refused for safety"):
        import_sae("goodfire-evo2", tmp_path / "evil.pt")
    torch.save({"weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(StoreVersionError, match=r"no W, b_dec, b_enc.*Fix"):
        import_sae("goodfire-evo2", tmp_path / "other.pt")


# -- data, schedule, resume, DDP -------------------------------------------------------------
@pytest.fixture(scope="module")
def indexed_store(tmp_path_factory):
    """Rows whose first column is their own index, so reads can be traced."""
    n = 20_000
    rows = np.random.default_rng(0).standard_normal((n, 8)).astype(np.float32)
    rows[:, 0] = np.arange(n)
    return store_from_rows(tmp_path_factory.mktemp("indexed") / "indexed.h5", rows), rows


def test_batches_cover_training_rows_once_per_epoch_and_never_eval_rows(indexed_store):
    path, rows = indexed_store
    with gi.acts.ActivationStore(path) as store:
        batches = ActivationBatches(store, "blocks.0", 500, 4, seed=3, eval_fraction=0.2)
        epoch = batches.stream_rows(0, batches.train_rows)[:, 0].astype(int)
        held_out = batches.eval_rows()[:, 0].astype(int)
        assert len(set(epoch)) == len(epoch) == batches.train_rows
        assert set(epoch).isdisjoint(held_out)
        assert len(epoch) + len(held_out) == len(rows)
        first = batches.batch(0)[:, 0].numpy()
        assert np.abs(np.diff(first)).mean() > 100  # shuffled, not in storage order
        # Two processes split each fill between them: together they read what one would.
        fill = {int(v) for s in range(4) for v in batches.batch(s)[:, 0]}
        ranks = [
            ActivationBatches(store, "blocks.0", 500, 4, 3, 0.2, rank=r, world=2) for r in (0, 1)
        ]
        split = [{int(v) for s in range(4) for v in b.batch(s)[:, 0]} for b in ranks]
        assert split[0].isdisjoint(split[1]) and split[0] | split[1] == fill
        # Deterministic: a new reader gives the same batch for the same step.
        again = ActivationBatches(store, "blocks.0", 500, 4, seed=3, eval_fraction=0.2)
        assert torch.equal(again.batch(9), batches.batch(9))


def test_learning_rate_warms_up_holds_and_decays_to_zero():
    config = SAETrainConfig(
        optim=OptimConfig(warmup_steps=10, decay_fraction=0.2), tokens=4096 * 100
    )
    factors = [lr_factor(s, config) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0
    assert factors[50] == 1.0 and factors[79] == 1.0
    assert factors[80] == pytest.approx(1.0) and factors[99] == pytest.approx(0.05)
    assert all(a >= b for a, b in zip(factors[80:], factors[81:], strict=False))


@pytest.mark.parametrize("architecture", ["topk", "batchtopk", "jumprelu"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(
    indexed_store, tmp_path, architecture
):
    path, _ = indexed_store
    config = small_config(path, architecture, tokens=256 * 40, k=4)
    config.data.batch_size, config.data.buffer_batches = 256, 8
    config.sae.d_sae, config.dead_tokens, config.checkpoint_every = 32, 1024, 5
    whole = train_sae(config, tmp_path / "whole", progress=False)
    first = train_sae(config, tmp_path / "parts", stop_after=17, progress=False)
    assert not first.complete and first.step == 17
    rest = train_sae(config, tmp_path / "parts", progress=False)
    assert rest.complete
    for name, tensor in whole.sae.state_dict().items():
        assert torch.equal(tensor, rest.sae.state_dict()[name]), name
    same = (tmp_path / "whole" / "sae_weights.safetensors").read_bytes()
    assert same == (tmp_path / "parts" / "sae_weights.safetensors").read_bytes()
    logged = (tmp_path / "parts" / "train_log.tsv").read_text().splitlines()[1:]
    train_steps = [int(row.split("\t")[0]) for row in logged if row.split("\t")[1]]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == 40  # none twice
    config.sae.k = 5
    with pytest.raises(GenointerpError, match=r"other settings \(sae differ"):
        train_sae(config, tmp_path / "parts", progress=False)


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_result(indexed_store, tmp_path):
    path, _ = indexed_store
    config = tmp_path / "config.yaml"
    config.write_text("checkpoint_every: 7\nsae: {k: 4, expansion_factor: 4}\n")
    args = [
        "sae", "train", "--config", str(config), "--store", str(path),
        "--tokens", str(256 * 3000), "--batch-size", "256", "--lr", "0.003",
    ]  # fmt: skip
    assert main(["-q", *args, "-o", str(tmp_path / "whole")]) == 0
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "genointerp", "-q", *args, "-o", str(tmp_path / "killed")],
        env=env,
        cwd=REPO,
    )
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and run.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more steps, possibly mid-checkpoint
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert checkpoint.exists()
    step = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < step < 3000, "killed before the end"
    assert main(["-q", *args, "-o", str(tmp_path / "killed")]) == 0
    for name in ("sae_weights.safetensors",):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes()


@pytest.mark.parametrize("architecture", ["topk", "batchtopk"])
def test_two_process_ddp_with_gloo_keeps_ranks_identical_and_learns(
    planted, tmp_path, architecture
):
    store, rows, _ = planted
    config = small_config(store, architecture, tokens=1024 * 150, k=3)
    config.log_every = 10
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    out = tmp_path / "run"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            str(REPO / "tests" / "ddp_worker.py"), str(tmp_path / "config.json"), str(out),
        ],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    log = [line.split("\t") for line in (out / "train_log.tsv").read_text().splitlines()[1:]]
    mse = [float(row[3]) for row in log if row[3]]
    assert mse[-1] < 0.5 * mse[0]
    sae, _ = load_sae(out)
    assert measure(sae, rows[:10_000]).fvu < 0.3


# -- loss recovered, CLI ------------------------------------------------------------------
def identity_sae(d: int):
    """A ReLU SAE that reconstructs exactly: x = relu(x) - relu(-x)."""
    sae = build_sae(SAEConfig(architecture="relu", d_sae=2 * d), d)
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc_param.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


def test_splice_with_identity_equals_the_clean_model():
    model = random_tiny()
    codes = gi.models.as_codes(["ACGTTGCAAC" * 20])
    clean = model.forward(codes, []).logits
    assert torch.equal(model.splice(codes, "blocks.1", lambda a: a), clean)
    assert not torch.allclose(model.splice(codes, "blocks.1", torch.zeros_like), clean)


@pytest.mark.realdata
def test_loss_recovered_is_one_for_a_perfect_sae_and_zero_for_a_null_one(ecoli):
    genome, _ = ecoli
    model = gi.models.load_model("tiny")
    perfect = gi.sae.loss_recovered(identity_sae(96), model, genome, "blocks.5", windows=3)
    assert perfect.zero - perfect.clean > 0.1  # zeroing the residual stream hurts
    assert perfect.fraction == pytest.approx(1.0, abs=1e-4)
    null = identity_sae(96)
    with torch.no_grad():
        null.W_dec.zero_()
    nothing = gi.sae.loss_recovered(null, model, genome, "blocks.5", windows=3)
    assert nothing.fraction == pytest.approx(0.0, abs=1e-6)
    assert nothing.clean == perfect.clean and nothing.positions == 3 * 4096


def test_loss_recovered_refuses_a_model_with_its_own_vocabulary(tmp_path):
    from .test_models_hf import save_char_gpt2

    model = gi.models.load_model("hf", str(save_char_gpt2(tmp_path)))
    sae = identity_sae(model.d_model)
    with pytest.raises(gi.errors.GenointerpError, match="vocabulary.*loss_windows: 0"):
        gi.sae.loss_recovered(sae, model, None, model.blocks[0])


def test_cli_trains_evaluates_and_refuses_a_mismatched_store(planted, tmp_path, capsys):
    store, _, _ = planted
    out = tmp_path / "sae"
    args = ["-q", "sae", "train", "--store", str(store), "--tokens", "65536", "--k", "3"]
    assert main([*args, "--expansion-factor", "4", "-o", str(out)]) == 0
    assert {"cfg.json", "sae_weights.safetensors", "metrics.json", "train_log.tsv"} <= {
        p.name for p in out.iterdir()
    }
    assert (
        main(["sae", "eval", str(out), "--store", str(store), "-o", str(tmp_path / "m.json")]) == 0
    )
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert f"{metrics['fvu']:.6g}" in printed and 0 < metrics["fvu"] < 1
    assert sum(metrics["density_histogram"]["counts"]) == round(
        4 * 32 * (1 - metrics["dead_fraction"])
    )
    rows, _ = planted_dictionary(5000, seed=1)
    other = store_from_rows(tmp_path / "other.h5", rows, model_id="tiny:another-model")
    assert main(["sae", "eval", str(out), "--store", str(other)]) == 1
    assert "trained on activations of model 'tiny:synthetic'" in capsys.readouterr().err


def test_cli_import_goodfire(tmp_path, capsys):
    torch.save(goodfire_state(), tmp_path / "sae.pt")
    args = ["sae", "import", "--format", "goodfire-evo2", str(tmp_path / "sae.pt"), "--k", "8"]
    assert main([*args, "--layer", "blocks.26", "-o", str(tmp_path / "out")]) == 0
    assert "batchtopk SAE, d_in 16, d_sae 64" in capsys.readouterr().out
    assert main(["sae", "import", "--format", "nope", str(tmp_path / "sae.pt"), "-o", "x"]) == 1


# -- the pieces of the losses -------------------------------------------------------------
def test_auxk_loss_follows_its_definition():
    torch.manual_seed(0)
    config = SAEConfig(architecture="topk", d_sae=32, k=2, auxk_k=4, auxk_coefficient=0.5)
    sae = build_sae(config, 8)
    x = torch.randn(64, 8)
    dead = torch.zeros(32, dtype=torch.bool)
    dead[[3, 17]] = True  # 2 dead of the 4 AuxK wants: weighted by 2 / 4
    with torch.no_grad():
        out = sae(x, dead)
        pre = sae.pre_acts(x)
        residual = x - out.x_hat
        picked = torch.relu(pre[:, [3, 17]])  # both dead latents are the top-2 of the dead
        recon = picked @ sae.W_dec[[3, 17]]
        expected = (recon - residual).pow(2).sum() / (residual - residual.mean(0)).pow(2).sum()
    assert float(out.aux) == pytest.approx(0.5 * (2 / 4) * float(expected), rel=1e-5)
    assert float(sae(x, torch.zeros(32, dtype=torch.bool)).aux) == 0.0


def test_jumprelu_straight_through_gradients_follow_the_paper():
    from genointerp.sae._arch import _JumpReLU, _Step

    eps = 0.1
    pre = torch.tensor([[0.28, 0.52, 0.10], [0.46, 0.90, 0.14], [0.22, 0.56, 0.00]])
    theta = torch.tensor([0.25, 0.50, 0.12], requires_grad=True)
    pre_grad = pre.clone().requires_grad_(True)
    _JumpReLU.apply(pre_grad, theta, eps).sum().backward()
    window = ((pre - theta.detach()).abs() < eps / 2).float()  # |pre - theta| < eps / 2
    torch.testing.assert_close(theta.grad, -(theta.detach() / eps) * window.sum(0))
    torch.testing.assert_close(pre_grad.grad, (pre > theta.detach()).float())
    theta.grad = None
    _Step.apply(pre, theta, eps).sum().backward()
    torch.testing.assert_close(theta.grad, -(1 / eps) * window.sum(0))
    assert window.sum() == 5  # the example has values inside and outside the window


def test_sae_encodes_store_rows_as_they_come():
    sae = trained_looking("topk")
    rows = np.random.default_rng(0).standard_normal((10, 12)).astype(np.float16)
    expected = sae.encode(torch.from_numpy(rows.astype(np.float32)))
    assert torch.equal(sae.encode(rows), expected)  # numpy float16, as the store returns


def test_unfinished_store_and_impossible_settings_are_refused(indexed_store, tmp_path):
    path, _ = indexed_store
    partial = tmp_path / "partial.h5"
    partial.write_bytes(path.read_bytes())
    with gi.acts.ActivationStore(partial, "r+") as store:
        store.file["done"][0] = 0
    with pytest.raises(GenointerpError, match="not finished. Fix: run the same"):
        train_sae(small_config(partial, tokens=2048), tmp_path / "out", progress=False)
    with pytest.raises(GenointerpError, match="k=40 active features asked of an SAE with 32"):
        build_sae(SAEConfig(k=40, expansion_factor=4), 8)
    with pytest.raises(ValueError, match="checkpoint_every must be at least 1"):
        SAETrainConfig(checkpoint_every=0)


def test_training_logs_loss_recovered_inside_the_model(tmp_path):
    """A real extraction (the shipped model, a genome from a FASTA file) trains an SAE that
    is scored inside the model during training; another model's weights are refused."""
    from genointerp.models import save_tiny
    from tests.builders import random_genome

    fasta = tmp_path / "genome.fa"
    genome = random_genome({"a": 7000, "b": 6000}, seed=4)
    fasta.write_text("".join(f">{n}\n{genome.fetch(n)}\n" for n in genome.names))
    model = gi.models.load_model("tiny")
    store = gi.acts.extract(str(fasta), model, ["blocks.1"], tmp_path / "acts.h5", progress=False)
    config = small_config(store, "topk", tokens=256 * 20, k=4)
    config.sae.d_sae, config.data.batch_size, config.eval_every = 32, 256, 10
    config.loss_windows = 2  # model_weights empty: the shipped weights, as extracted
    train_sae(config, tmp_path / "sae", progress=False)
    lines = (tmp_path / "sae" / "train_log.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    column = header.index("eval_loss_recovered")
    logged = [float(row.split("\t")[column]) for row in lines[1:] if row.split("\t")[column]]
    held_out = json.loads((tmp_path / "sae" / "metrics.json").read_text())["held_out"]
    assert len(logged) == 2 and np.isfinite(logged).all()
    assert held_out["loss_positions"] == 2 * 4096
    sae, _ = load_sae(tmp_path / "sae", model_id=model.model_id, layer="blocks.1")
    genome_again = gi.io.Genome.open(fasta)
    direct = gi.sae.loss_recovered(sae, model, genome_again, "blocks.1", windows=2, seed=0)
    assert held_out["loss_recovered"] == pytest.approx(direct.fraction, abs=1e-6)
    assert held_out["bits_spliced"] == pytest.approx(direct.spliced, abs=1e-6)
    save_tiny(random_tiny(seed=2).model, tmp_path / "other", {"model_id": "random-2"})
    config.model_weights = str(tmp_path / "other")
    with pytest.raises(GenointerpError, match=f"extracted with '{model.model_id}'.*Fix"):
        train_sae(config, tmp_path / "sae2", progress=False)


def test_calibrated_batchtopk_encodes_each_position_alone_with_about_k(tmp_path, capsys):
    torch.save(goodfire_state(), tmp_path / "sae.pt")
    rows = np.random.default_rng(5).standard_normal((40_000, 16)).astype(np.float32)
    store = store_from_rows(tmp_path / "acts.h5", rows, model_id="evo2:test", layer="blocks.26")
    args = ["sae", "import", "--format", "goodfire-evo2", str(tmp_path / "sae.pt"), "--k", "8"]
    args += ["--model-id", "evo2:test", "--layer", "blocks.26", "--calibrate-store", str(store)]
    assert main([*args, "-o", str(tmp_path / "out")]) == 0
    assert "threshold " in capsys.readouterr().out
    sae, _ = load_sae(tmp_path / "out", model_id="evo2:test", layer="blocks.26")
    threshold = float(sae.threshold[0])
    assert threshold > 0 and torch.all(sae.threshold == threshold)
    with torch.no_grad():
        alone = sae.encode(rows[:1])  # one position, no batch to compare with
        together = sae.encode(rows[:5000])
    torch.testing.assert_close(alone[0], together[0])  # no longer depends on the batch
    assert torch.equal(alone[0] > 0, together[0] > 0)
    assert 0.8 * 8 < float((together > 0).sum(1).double().mean()) < 1.2 * 8
