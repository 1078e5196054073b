"""Evo 2 adapter: INTERFACE tests against a stand-in with the call signature of ``evo2.Evo2``.

No Evo 2 weights and no GPU were available where these were written, so everything
here except ``test_gpu_real_evo2_7b_forward_shape`` (skipped without CUDA, the evo2
package and cached weights) checks the adapter against ``StandInEvo2``: a small
bfloat16 torch model shaped like Evo 2 (``.tokenizer.tokenize``; ``.model`` with StripedHyena's
``embedding_layer``, ``blocks``, ``norm`` and ``unembed`` in that order;
``__call__(input_ids, return_embeddings, layer_names) -> ((logits, None), embeddings)``).
They show the adapter drives that interface correctly, not that the real model runs.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

import genointerp as gi
from genointerp.errors import GenointerpError

D_MODEL, N_BLOCKS, VOCAB, MAX_SEQLEN = 8, 3, 512, 64


class _ByteTokenizer:
    """Like Evo 2's CharLevelTokenizer: one token per character, its byte value."""

    def tokenize(self, text: str) -> list[int]:
        return list(text.encode("ascii"))


class _Block(nn.Module):
    """Returns ``(hidden, state)`` as StripedHyena blocks do; causal (running mean mixer)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.mixer = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, u: torch.Tensor) -> tuple[torch.Tensor, None]:  # (batch, pos, d)
        steps = torch.arange(1, u.shape[1] + 1, device=u.device, dtype=u.dtype)[:, None]
        z = u + self.mixer(u).cumsum(1) / steps
        return z + self.mlp(z), None


class _Unembedding(nn.Embedding):
    """Like vortex's VocabParallelUnembedding: an nn.Embedding whose forward is the head."""

    def forward(self, u: torch.Tensor) -> torch.Tensor:  # (batch, pos, d) -> (batch, pos, vocab)
        return u @ self.weight.T


class _Network(nn.Module):
    """StripedHyena's children in its order: embedding_layer, blocks, norm, unembed."""

    def __init__(self, n_blocks: int = N_BLOCKS) -> None:
        super().__init__()
        self.config = {"hidden_size": D_MODEL, "num_layers": n_blocks, "max_seqlen": MAX_SEQLEN}
        self.embedding_layer = nn.Embedding(VOCAB, D_MODEL)
        self.blocks = nn.ModuleList(_Block(D_MODEL) for _ in range(n_blocks))
        self.norm = nn.LayerNorm(D_MODEL)
        self.unembed = _Unembedding(VOCAB, D_MODEL)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, None]:
        h = self.embedding_layer(input_ids)  # (batch, pos, d)
        for block in self.blocks:
            h, _ = block(h)
        return self.unembed(self.norm(h)), None  # (batch, pos, vocab)


class StandInEvo2:
    """The call signature of ``evo2.Evo2``; bfloat16 like the real model."""

    def __init__(self, n_blocks: int = N_BLOCKS) -> None:
        torch.manual_seed(0)
        self.model = _Network(n_blocks).to(torch.bfloat16).eval()
        self.tokenizer = _ByteTokenizer()
        self.calls: list[dict] = []

    def __call__(self, input_ids, return_embeddings=False, layer_names=None):
        self.calls.append({"return_embeddings": return_embeddings, "layer_names": layer_names})
        embeddings: dict[str, torch.Tensor] = {}

        def keep(name):
            def hook(_module, _inputs, output):
                embeddings[name] = (output[0] if isinstance(output, tuple) else output).detach()

            return hook

        names = layer_names if return_embeddings else []
        handles = [self.model.get_submodule(n).register_forward_hook(keep(n)) for n in names]
        try:
            with torch.no_grad():
                outputs = self.model(input_ids)
        finally:
            for handle in handles:
                handle.remove()
        return outputs, embeddings if return_embeddings else None


@pytest.fixture
def standin() -> StandInEvo2:
    return StandInEvo2()


@pytest.fixture
def adapter(standin):
    return gi.models.Evo2Adapter.from_module(standin, name="standin", device="cpu")


def _random_seq(n: int) -> str:
    rng = np.random.default_rng(0)
    return "".join(rng.choice(list("ACGT"), size=n))


def test_interface_windows_give_the_standins_own_outputs_per_nucleotide(adapter, standin):
    seq = _random_seq(40)
    windows = [seq[0:16], seq[16:32], seq[24:40]]
    out = adapter.forward(gi.models.as_codes(windows), ["blocks.1", "blocks.2"])
    assert standin.calls[-1] == {"return_embeddings": True, "layer_names": ["blocks.1", "blocks.2"]}
    assert out.activations["blocks.1"].shape == (3, 16, D_MODEL)
    assert out.logits.shape == (3, 16, VOCAB)
    for row, window in enumerate(windows):
        ids = torch.tensor([standin.tokenizer.tokenize(window)])
        (logits, _), embeddings = standin(ids, return_embeddings=True, layer_names=["blocks.1"])
        assert embeddings["blocks.1"].dtype == torch.bfloat16
        assert torch.equal(out.activations["blocks.1"][row], embeddings["blocks.1"][0].float())
        assert torch.equal(out.logits[row], logits[0].float())


def test_interface_bf16_comes_back_as_float32(adapter):
    out = adapter.run("ACGTACGTAC", "blocks.0")
    assert out.activations["blocks.0"].dtype == torch.float32
    assert out.logits.dtype == torch.float32
    assert adapter.dtype == torch.bfloat16
    out.activations["blocks.0"].add_(1)  # an ordinary tensor, not an inference-mode one


def test_interface_tokens_are_upper_case_bytes_one_per_nucleotide(adapter):
    tokens = adapter.tokenize("acgTNr")
    assert tokens.ids.tolist() == [ord(c) for c in "ACGTNN"]
    assert tokens.token_of.tolist() == list(range(6))
    lower = adapter.run("acgtrygg", "blocks.2").activations["blocks.2"]
    upper = adapter.run("ACGTNNGG", "blocks.2").activations["blocks.2"]
    assert torch.equal(lower, upper)


def test_interface_layer_names_are_in_depth_order_and_deeper_paths_work(adapter):
    assert adapter.layers == ["embedding_layer", "blocks.0", "blocks.1", "blocks.2", "norm"]
    assert adapter.blocks == ["blocks.0", "blocks.1", "blocks.2"]
    with pytest.raises(gi.models.LayerError, match="blocks.99") as err:
        adapter.run("ACGT", "blocks.99")
    assert "valid layers are embedding_layer, blocks.0, blocks.1, blocks.2, norm" in str(err.value)
    assert adapter.check_layers("blocks.1") == ["blocks.1"]
    deep = adapter.run("ACGTACGT", "blocks.2.mlp.2").activations["blocks.2.mlp.2"]
    assert deep.shape == (1, 8, D_MODEL)


def test_interface_layer_i_is_the_output_of_the_ith_module_in_the_forward(adapter, standin):
    seq = _random_seq(24)
    out = adapter.run(seq, adapter.layers)
    network = standin.model
    with torch.no_grad():  # the stand-in's forward, step by step
        h = network.embedding_layer(torch.tensor([standin.tokenizer.tokenize(seq)]))
        expected = [h]
        for block in network.blocks:
            h, _ = block(h)
            expected.append(h)
        expected.append(network.norm(h))
    assert len(expected) == len(adapter.layers) == 5
    for name, h in zip(adapter.layers, expected, strict=True):
        assert torch.equal(out.activations[name], h.float()), name


@pytest.mark.parametrize(
    ("n_blocks", "default"),
    [(1, "blocks.0"), (2, "blocks.1"), (3, "blocks.1"), (13, "blocks.6"), (32, "blocks.16")],
)
def test_interface_default_layer_is_the_middle_block(n_blocks, default):
    adapter = gi.models.Evo2Adapter.from_module(StandInEvo2(n_blocks), device="cpu")
    blocks = [f"blocks.{i}" for i in range(n_blocks)]
    assert adapter.layers == ["embedding_layer", *blocks, "norm"]
    assert adapter.default_layer == default
    assert adapter.run("ACGTAC", default).activations[default].shape == (1, 6, D_MODEL)


def test_interface_description_and_context_limit(adapter):
    assert adapter.describe() == {
        "adapter": "evo2",
        "model_id": "evo2:standin",
        "causal": True,
        "d_model": D_MODEL,
        "context_length": MAX_SEQLEN,
        "dtype": "bfloat16",
    }
    assert adapter.device == torch.device("cpu")
    with pytest.raises(GenointerpError, match="longer than the 64"):
        adapter.run("A" * (MAX_SEQLEN + 1), "blocks.0")


def test_interface_from_module_refuses_objects_without_blocks():
    with pytest.raises(GenointerpError, match=r"needs a \.model attribute"):
        gi.models.Evo2Adapter.from_module(types.SimpleNamespace(model=nn.Linear(2, 2)))


def test_load_evo2_without_the_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "evo2", None)  # import evo2 now fails as if not installed
    with pytest.raises(GenointerpError, match="pip install evo2") as err:
        gi.models.load_model("evo2")
    assert "github.com/ArcInstitute/evo2" in str(err.value)


def _fake_evo2_package(monkeypatch, make=None) -> list[str]:
    """Make ``import evo2`` give a package whose Evo2(name) records the name."""
    loaded: list[str] = []

    def evo2_class(name):
        loaded.append(name)
        if make is None:
            raise AssertionError("Evo2 must not be built")
        return make()

    monkeypatch.setitem(sys.modules, "evo2", types.SimpleNamespace(Evo2=evo2_class))
    return loaded


def test_load_evo2_without_cuda_says_so(monkeypatch):
    loaded = _fake_evo2_package(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(GenointerpError, match="runs only on CUDA GPUs"):
        gi.models.load_model("evo2", "evo2_7b")
    assert loaded == []


def test_interface_load_evo2_builds_the_named_model(monkeypatch):
    loaded = _fake_evo2_package(monkeypatch, make=StandInEvo2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    model = gi.models.load_model("evo2", context_length=32)
    assert loaded == ["evo2_7b"]
    assert model.model_id == "evo2:evo2_7b" and model.context_length == 32
    with pytest.raises(GenointerpError, match="computes in bfloat16"):
        gi.models.load_model("evo2", dtype="float32")
    with pytest.raises(GenointerpError, match="CUDA_VISIBLE_DEVICES"):
        gi.models.load_model("evo2", device="cuda:1")


@pytest.mark.gpu
def test_gpu_real_evo2_7b_forward_shape(monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pytest.importorskip("evo2")
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # tests never download weights
    try:
        model = gi.models.load_model("evo2", "evo2_7b", context_length=8192)
    except (FileNotFoundError, OfflineModeIsEnabled) as err:
        pytest.skip(f"evo2_7b weights are not in the local Hugging Face cache: {err}")
    assert model.layers == ["embedding_layer", *(f"blocks.{i}" for i in range(32)), "norm"]
    assert model.default_layer == "blocks.16"
    out = model.run([_random_seq(128)] * 2, ["embedding_layer", "blocks.26", "norm"])
    for name in ("embedding_layer", "norm"):
        assert out.activations[name].shape == (2, 128, 4096)
    assert out.activations["blocks.26"].shape == (2, 128, 4096)
    assert out.activations["blocks.26"].dtype == torch.float32
    assert out.logits.shape[:2] == (2, 128)
    assert torch.isfinite(out.activations["blocks.26"]).all()
