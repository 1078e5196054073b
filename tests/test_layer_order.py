"""Layers in depth order and the middle block as the default layer, for every adapter.

The Hugging Face families and Evo 2 are tested with their adapters (test_models_hf.py,
test_models_evo2.py); here the rule in the base class, the built-in model and the
``genointerp extract --list-layers`` flag.
"""

from __future__ import annotations

import numpy as np
import pytest

import genointerp as gi
from genointerp.cli import main
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


def test_cli_list_layers_prints_depth_order_and_marks_the_default(capsys, tmp_path):
    assert main(["extract", "--list-layers"]) == 0  # no --dataset/--genome or -o needed
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "embed",
        *(f"blocks.{i}" for i in range(5)),
        "blocks.5  (default)",
        *(f"blocks.{i}" for i in range(6, 10)),
        "norm",
    ]
    weights = tmp_path / "random"
    assert main(["lm", "random", "-o", str(weights)]) == 0
    capsys.readouterr()
    assert main(["extract", "--list-layers", "--model", "tiny", "--weights", str(weights)]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    assert not list(tmp_path.glob("*.h5"))  # nothing extracted


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", "x.h5"], "one of the arguments --dataset --genome is required"),
        (["--dataset", "ecoli_k12"], "the following arguments are required: -o/--output"),
    ],
)
def test_cli_extract_without_list_layers_still_needs_a_genome_and_an_output(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["extract", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
