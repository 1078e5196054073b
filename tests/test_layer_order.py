"""Layers in depth order and the middle block as the default layer, for every adapter.

The Hugging Face families and Evo 2 are tested with their adapters (test_models_hf.py,
test_models_evo2.py); here the rule in the base class and the built-in model.
"""

from __future__ import annotations

import numpy as np
import pytest

import genointerp as gi
from genointerp.errors import GenointerpError
from genointerp.models import Adapter, ModelOutput, Tokens


class _Named(Adapter):
    """An adapter that only has layer names (nothing runs)."""

    name = "named"

    def __init__(self, layers: list[str]) -> None:
        self._layers = layers

    @property
    def layers(self) -> list[str]:
        return list(self._layers)

    def tokenize(self, seq: str) -> Tokens:
        raise NotImplementedError

    def forward(self, codes: np.ndarray, layers) -> ModelOutput:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("layers", "blocks", "default"),
    [
        # the numbered layers under the prefix that numbers most of them are the blocks
        (
            ["embed", "stem.0", "blocks.0", "blocks.1", "blocks.2", "norm"],
            ["blocks.0", "blocks.1", "blocks.2"],
            "blocks.1",
        ),
        (["wte", "h.0", "h.1", "ln_f"], ["h.0", "h.1"], "h.1"),
        # no numbered layers: the middle of all layers
        (["embed", "mixer", "norm"], [], "mixer"),
    ],
)
def test_base_default_is_the_middle_block(layers, blocks, default):
    model = _Named(layers)
    assert model.blocks == blocks
    assert model.default_layer == default


def test_base_model_without_layers_has_no_default_and_says_what_to_do():
    with pytest.raises(GenointerpError, match="lists no layers.*Fix: name a module path"):
        _Named([]).default_layer  # noqa: B018 - the property raises


def test_builtin_model_default_stays_blocks_5():
    model = gi.models.load_model("tiny")
    assert model.layers == ["embed", *(f"blocks.{i}" for i in range(10)), "norm"]
    assert model.blocks == [f"blocks.{i}" for i in range(10)]
    assert model.default_layer == "blocks.5"


def test_builtin_architecture_with_13_blocks_defaults_to_blocks_6():
    config = gi.models.TinyConfig(d_model=8, dilations=[1] * 13)
    model = gi.models.random_tiny(0, config, device="cpu")
    assert model.layers[0] == "embed" and model.layers[-1] == "norm"
    assert model.layers[1:-1] == model.blocks == [f"blocks.{i}" for i in range(13)]
    assert model.default_layer == "blocks.6"
