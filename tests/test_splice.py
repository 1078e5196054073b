"""``Adapter.splice``: a layer's output replaced by ``edit(output)`` inside every adapter.

Four small random models: the built-in model, a character-level GPT-2 and a 6-mer ESM
(Hugging Face, saved and loaded through ``from_pretrained`` as in test_models_hf.py) and the
Evo 2 stand-in of test_models_evo2.py. Each test knows what the edit must do to the logits:
nothing (identity), make every position's logits the head applied to zero (zeroing the
final layer), or change only what comes at or after the edited token (causal models).
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

import genointerp as gi
from genointerp.errors import GenointerpError
from genointerp.models._hf import _with_first

from .builders import random_sequence, random_tiny
from .test_models_evo2 import StandInEvo2

# adapter -> (a block to edit, the final layer: the head's input)
LAYERS = {
    "tiny": ("blocks.1", "norm"),
    "gpt2": ("transformer.h.0", "transformer.ln_f"),
    "esm": ("esm.encoder.layer.0", "esm.encoder.emb_layer_norm_after"),
    "evo2": ("blocks.1", "norm"),
}
CAUSAL = ["tiny", "gpt2", "evo2"]


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory):
    """Saved GPT-2 (characters, fast tokenizer) and ESM (6-mers, slow tokenizer) models."""
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from .test_models_hf import save_char_gpt2, save_esm

    return {
        "gpt2": save_char_gpt2(tmp_path_factory.mktemp("gpt2")),
        "esm": save_esm(tmp_path_factory.mktemp("esm")),
    }


@pytest.fixture(scope="module")
def models(hf_dirs):
    built = {name: gi.models.load_model("hf", str(path)) for name, path in hf_dirs.items()}
    built["tiny"] = random_tiny()
    built["evo2"] = gi.models.Evo2Adapter.from_module(StandInEvo2(), name="standin", device="cpu")
    return built


def _codes(rows: int = 2, length: int = 30):
    return gi.models.as_codes([random_sequence(length, seed=row) for row in range(rows)])


class Recorder:
    """An edit that records the shapes and dtypes it was given and applies ``change``."""

    def __init__(self, change=lambda h: h) -> None:
        self.change, self.seen = change, []

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        self.seen.append((tuple(h.shape), h.dtype))
        return self.change(h)


@pytest.mark.parametrize("name", LAYERS)
def test_identity_edit_gives_exactly_forwards_logits(models, name):
    model, (block, final) = models[name], LAYERS[name]
    codes = _codes()
    edit = Recorder()
    spliced = model.splice(codes, block, edit)
    assert torch.equal(spliced, model.forward(codes, [final]).logits)
    assert spliced.shape[:2] == codes.shape and spliced.dtype == torch.float32
    # per token: 6-mers for ESM (<cls> + 5 six-mers + <eos> for 30 nt), one per nucleotide
    # (after <bos> for GPT-2) elsewhere
    tokens = len(model.tokenize(random_sequence(30)).ids)
    assert tokens == {"esm": 7, "gpt2": 31}.get(name, 30)
    assert edit.seen == [((2, tokens, model.d_model), torch.float32)]


@pytest.mark.parametrize("name", LAYERS)
def test_zeroing_the_final_layer_gives_every_position_the_heads_logits_of_zero(models, name):
    model, (block, final) = models[name], LAYERS[name]
    codes = _codes()
    clean = model.forward(codes, [final]).logits
    zeroed = model.splice(codes, block, torch.zeros_like)
    assert (zeroed - clean).abs().amax(-1).min() > 1e-4  # every position moved
    at_final = model.splice(codes, final, torch.zeros_like)  # (batch, pos, vocab)
    assert torch.equal(at_final, at_final[:1, :1].expand_as(at_final))
    assert not torch.allclose(at_final, clean)


@pytest.mark.parametrize("name", [*CAUSAL, "esm"])
def test_editing_one_token_changes_only_what_comes_after_it_in_a_causal_model(models, name):
    model, (block, final) = models[name], LAYERS[name]
    seq = random_sequence(36, seed=3)
    token_of = torch.as_tensor(model.tokenize(seq).token_of)  # (pos,)
    t = int(token_of[18])  # the token covering nucleotide 18

    def zero_token_t(h):  # (batch, tokens, d)
        h = h.clone()
        h[:, t] = 0
        return h

    codes = gi.models.as_codes(seq)
    clean = model.forward(codes, [final]).logits[0]
    edited = model.splice(codes, block, zero_token_t)[0]
    moved = (edited - clean).abs().amax(-1)  # (pos,)
    before, at = token_of < t, token_of == t
    assert bool(before.any()) and bool((moved[at] > 1e-4).all())
    after = token_of > t
    if name == "tiny":  # blocks.2 (dilation 4) carries it to t + 4 and t + 8 only
        assert (moved[after] > 0).nonzero()[:, 0].tolist() == [3, 7]
    else:  # attention (or a running mean) carries the edit to every later position
        assert bool((moved[after] > 1e-4).all())
    if name in CAUSAL:
        assert torch.equal(edited[before], clean[before])
    else:  # bidirectional: the positions before see the edit too, so the check can fail
        assert bool((moved[before] > 1e-4).all())


def test_tuple_and_model_output_layers_of_gpt2(models):
    model = models["gpt2"]
    codes = _codes()
    kinds = []
    for layer in ("transformer.h.0.attn", "transformer"):
        module = model.model.get_submodule(layer)
        handle = module.register_forward_hook(lambda m, a, out: kinds.append(type(out).__name__))
        clean = model.forward(codes, [layer]).logits
        assert torch.equal(model.splice(codes, layer, lambda h: h), clean)
        handle.remove()
    # the attention returns (output, weights), GPT2Model a ModelOutput
    assert kinds[0] == "tuple" and kinds[-1].startswith("BaseModelOutput")
    assert not torch.allclose(model.splice(codes, "transformer.h.0.attn", torch.zeros_like), clean)
    # zeroing GPT2Model's last_hidden_state (after ln_f): the bias-free lm_head gives zeros
    assert torch.equal(
        model.splice(codes, "transformer", torch.zeros_like), torch.zeros_like(clean)
    )


def test_evo2_blocks_return_tuples_and_keep_their_state(models):
    network = models["evo2"].module.model
    block_out = network.blocks[1](torch.zeros(1, 4, 8, dtype=torch.bfloat16))
    assert isinstance(block_out, tuple) and block_out[1] is None
    assert models["evo2"].splice(_codes(), "blocks.1.mlp.2", torch.zeros_like).shape == (2, 30, 512)


def test_output_containers_keep_their_rest():
    transformers = pytest.importorskip("transformers")
    new, old = torch.ones(1, 2, 3), torch.zeros(1, 2, 3)
    assert _with_first((old, "state"), new)[1] == "state"
    assert _with_first([old, 7], new)[1] == 7 and _with_first([old, 7], new)[0] is new
    out = transformers.modeling_outputs.BaseModelOutput(last_hidden_state=old, hidden_states=(old,))
    replaced = _with_first(out, new)
    assert replaced.last_hidden_state is new and replaced.hidden_states == (old,)
    assert _with_first({"a": old, "b": 1}, new) == {"a": new, "b": 1}
    assert _with_first(old, new) is new


def test_bidirectional_model_without_a_mask_splices_rows_alone(models, monkeypatch):
    model = models["esm"]
    rows = ["ACGTACGTACGTACGTAACG", "ACGTACGTNACGTACGTAAC", "NNNNNNNNNNNNNNNNNNNN"]
    tokens = [len(model.tokenize(row).ids) for row in rows]
    assert len(set(tokens)) == 3  # ragged, so padded when batched
    codes = gi.models.as_codes(rows)
    masked = model.splice(codes, "esm.encoder.layer.1", lambda h: h)
    monkeypatch.setattr(model, "_takes_mask", False)
    edit = Recorder()
    alone = model.splice(codes, "esm.encoder.layer.1", edit)
    assert [shape for shape, _ in edit.seen] == [(1, n, model.d_model) for n in tokens]
    assert torch.equal(alone, model.forward(codes, ["esm.encoder.layer.1"]).logits)
    torch.testing.assert_close(alone, masked)  # the mask made padding invisible too


@pytest.mark.parametrize("name", ["tiny", "gpt2", "evo2"])
def test_grad_true_lets_gradients_reach_what_the_edit_used(models, name):
    model, (block, _) = models[name], LAYERS[name]
    codes = _codes()
    scale = torch.tensor(0.5, requires_grad=True)
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(1))

    def push(h, s=scale):  # add s times a fixed direction at every token, as steering does
        return h + s * direction

    with torch.no_grad():  # grad=True turns autograd back on, as attribution callers need
        logits = model.splice(codes, block, push, grad=True)
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(0))

    def objective(logits: torch.Tensor) -> torch.Tensor:  # a fixed random readout
        return (logits * weights).sum()

    (slope,) = torch.autograd.grad(objective(logits), scale)
    assert torch.isfinite(slope) and abs(float(slope)) > 1e-2
    without = model.splice(codes, block, push)
    assert not without.requires_grad
    torch.testing.assert_close(without, logits.detach())
    if name != "evo2":  # float32 models: the slope is the objective's finite difference
        ends = [
            float(objective(model.splice(codes, block, partial(push, s=s)))) for s in (0.49, 0.51)
        ]
        assert float(slope) == pytest.approx((ends[1] - ends[0]) / 0.02, rel=1e-2)


def test_bad_edits_and_layers_are_refused(models):
    model = models["gpt2"]
    codes = _codes()
    with pytest.raises(GenointerpError, match=r"returned shape \(2, 31, 8\).*\(2, 31, 32\)"):
        model.splice(codes, "transformer.h.0", lambda h: h[..., :8])
    with pytest.raises(GenointerpError, match="returned NoneType"):
        model.splice(codes, "transformer.h.0", lambda h: None)
    with pytest.raises(gi.models.LayerError, match="did you mean 'transformer.h.1'"):
        model.splice(codes, "transformer.h.7", torch.zeros_like)
    with pytest.raises(GenointerpError, match="attn_dropout' .* gave no output"):
        model.splice(codes, "transformer.h.0.attn.attn_dropout", torch.zeros_like)  # never run
    with pytest.raises(gi.models.LayerError):
        models["evo2"].splice(codes, "blocks.9", torch.zeros_like)


def test_a_model_without_logits_cannot_splice(models):
    transformers = pytest.importorskip("transformers")
    hf = models["gpt2"]
    bare = gi.models.HFAdapter(
        transformers.GPT2Model(hf.model.config).eval(),
        hf.tokenizer,
        model_id="hf:bare-gpt2",
        causal=True,
        dtype=torch.float32,
    )
    with pytest.raises(GenointerpError, match="gives no logits.*ForCausalLM"):
        bare.splice(_codes(), "h.0", torch.zeros_like)
