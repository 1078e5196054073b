"""The built-in DNA language model: a small gated dilated causal CNN.

Single-nucleotide tokens (A C G T N), a stack of residual blocks, each a
pre-normalised causal convolution with a WaveNet-style ``tanh * sigmoid`` gate.
Dilations double from block to block, so ten blocks of kernel 3 see about 1 kb
to the left.  It is small enough to run over a bacterial genome on a laptop CPU;
its weights ship with the package (see ``docs/models.md`` for the model card).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GenointerpError
from ._base import (
    N_INDEX,
    Adapter,
    ModelOutput,
    Tokens,
    nucleotide_index,
    register_adapter,
    resolve_device,
    resolve_dtype,
)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class TinyConfig:
    """Architecture of the built-in model."""

    d_model: int = 96
    """Width of the residual stream (and of every stored activation)."""
    kernel_size: int = 3
    """Taps per causal convolution."""
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1])
    """One entry per block: the dilation of its convolution."""
    vocab_size: int = 5
    """A C G T and N."""
    name: str = "genointerp-tiny"
    """Model name recorded with activations and checkpoints."""

    def __post_init__(self) -> None:
        if self.d_model < 1 or self.kernel_size < 1 or not self.dilations:
            raise ValueError("d_model, kernel_size and dilations must be positive and non-empty")
        if any(d < 1 for d in self.dilations):
            raise ValueError(f"dilations must be >= 1, got {self.dilations}")

    @property
    def receptive_field(self) -> int:
        """Nucleotides one output position can see, itself included."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)


class RMSNorm(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class GatedCausalBlock(nn.Module):
    """``x + out(tanh(a) * sigmoid(b))`` with ``(a, b)`` a causal dilated convolution of ``x``.

    The convolution is written as one matmul over the ``kernel_size`` shifted copies of the
    input, channels last, which runs faster on CPUs than ``Conv1d`` at this width.
    """

    def __init__(self, d_model: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.norm = RMSNorm(d_model)
        self.conv = nn.Linear(kernel_size * d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, pos, d_model)
        h = self.norm(x)
        length = h.shape[1]
        reach = (self.kernel_size - 1) * self.dilation
        padded = F.pad(h, (0, 0, reach, 0))  # (batch, reach + pos, d_model)
        taps = [
            padded[:, j * self.dilation : j * self.dilation + length]
            for j in range(self.kernel_size)
        ]
        a, b = self.conv(torch.cat(taps, dim=-1)).chunk(2, dim=-1)  # each (batch, pos, d_model)
        return x + self.out(torch.tanh(a) * torch.sigmoid(b))


class TinyDNA(nn.Module):
    """The network.  ``forward`` returns next-nucleotide logits and activations at named layers.

    Layer names are module paths: ``embed`` (token embedding), ``blocks.<i>`` (the residual
    stream after block ``i``) and ``norm`` (the final normalisation, input of the head).
    """

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embed = nn.Embedding(config.vocab_size, d)
        self.blocks = nn.ModuleList(
            GatedCausalBlock(d, config.kernel_size, dil) for dil in config.dilations
        )
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, 4)
        self.apply(self._init)
        for block in self.blocks:  # residual branches start small: a stable deep stack
            nn.init.normal_(block.out.weight, std=0.02 / len(self.blocks) ** 0.5)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=1.0)

    @property
    def layer_names(self) -> list[str]:
        return ["embed", *(f"blocks.{i}" for i in range(len(self.blocks))), "norm"]

    def forward(
        self, tokens: torch.Tensor, layers: Sequence[str] = ()
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``tokens`` (batch, pos) int64 in 0..4 -> logits (batch, pos, 4) and activations."""
        wanted = set(layers)
        acts: dict[str, torch.Tensor] = {}
        x = self.embed(tokens)  # (batch, pos, d_model)
        if "embed" in wanted:
            acts["embed"] = x
        # In inference, stop after the deepest requested layer; the head runs only if needed.
        last = len(self.blocks) + 1
        if wanted and not self.training:
            last = max(self._depth(name) for name in wanted)
        for i, block in enumerate(self.blocks):
            if i >= last:
                break
            x = block(x)
            if f"blocks.{i}" in wanted:
                acts[f"blocks.{i}"] = x
        if last <= len(self.blocks):
            return torch.empty(0), acts
        h = self.norm(x)
        if "norm" in wanted:
            acts["norm"] = h
        return self.head(h), acts

    def _depth(self, name: str) -> int:
        """Blocks that must run to produce layer ``name``."""
        if name == "embed":
            return 0
        if name == "norm":
            return len(self.blocks) + 1
        return int(name.split(".")[1]) + 1


def grow(start: TinyDNA, config: TinyConfig) -> TinyDNA:
    """A deeper model that computes exactly what ``start`` computes: its blocks are copied
    in order, and every new block starts as the identity (its output projection is zero).

    ``config`` must keep ``start``'s width, kernel and vocabulary, and its dilations must
    contain ``start``'s as a subsequence (new blocks may go anywhere between them).
    Training then only has to learn what the new blocks add (Net2Net-style growth).
    """
    old = start.config
    same = (old.d_model, old.kernel_size, old.vocab_size)
    if same != (config.d_model, config.kernel_size, config.vocab_size):
        raise ValueError(
            f"cannot grow a model of width/kernel/vocabulary {same} into "
            f"{(config.d_model, config.kernel_size, config.vocab_size)}: only depth can grow"
        )
    mapping, i = [], 0  # mapping[j]: the old block new block j copies, or None
    for dilation in config.dilations:
        if i < len(old.dilations) and old.dilations[i] == dilation:
            mapping.append(i)
            i += 1
        else:
            mapping.append(None)
    if i < len(old.dilations):
        raise ValueError(
            f"dilations {config.dilations} do not contain {old.dilations} in order: "
            "a grown model keeps every old block"
        )
    model = TinyDNA(config)
    model.embed.load_state_dict(start.embed.state_dict())
    model.norm.load_state_dict(start.norm.state_dict())
    model.head.load_state_dict(start.head.state_dict())
    for block, source in zip(model.blocks, mapping, strict=True):
        if source is None:
            nn.init.zeros_(block.out.weight)
            nn.init.zeros_(block.out.bias)
        else:
            block.load_state_dict(start.blocks[source].state_dict())
    return model


def save_tiny(model: TinyDNA, directory: str | Path, metadata: dict | None = None) -> Path:
    """Write ``config.json`` and ``model.safetensors`` to ``directory`` (atomically each)."""
    from safetensors.torch import save_file

    from .._atomic import atomic_path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        state = {k: v.detach().cpu().float().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp), metadata={"format": "pt"})
    record = {"model": asdict(model.config), **(metadata or {})}
    with atomic_path(directory / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return directory


def read_tiny(directory: str | Path) -> tuple[TinyDNA, dict]:
    """Load a model written by :func:`save_tiny`; returns it and its ``config.json`` record."""
    from .._filekind import wrong_kind
    from .._weights import load_safetensors

    directory = Path(directory)
    fix = "point to a directory written by 'genointerp lm train' (config.json, model.safetensors)"
    if directory.is_file():
        other = wrong_kind(directory)
        raise GenointerpError(
            f"{directory}: is a file, not a model folder{' (' + other + ')' if other else ''}. "
            f"Fix: {fix}"
        )
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise GenointerpError(f"{path}: no such file. Fix: {fix}")
    try:
        record = json.loads(config_path.read_text(encoding="utf-8"))
        model = TinyDNA(TinyConfig(**record["model"]))
    except (KeyError, TypeError, ValueError) as err:
        problem = " ".join(f"{type(err).__name__}: {err}".split())
        raise GenointerpError(
            f"{config_path}: not a tiny model's config ({problem}). Fix: {fix}"
        ) from err
    weights = load_safetensors(weights_path, fix)
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        problem = " ".join(str(err).split())[:300]
        raise GenointerpError(
            f"{weights_path}: weights do not fit config.json ({problem}). Fix: {fix}"
        ) from err
    return model.eval(), record


SHIPPED = {"v1": "tiny", "v2": "tiny_v2"}
"""Versions of the built-in model whose weights ship with the package -> their folder."""
DEFAULT_VERSION = "v1"


def default_weights_dir(version: str = DEFAULT_VERSION) -> Path:
    """Folder of the shipped weights of ``version`` (``genointerp/models/weights/...``)."""
    if version not in SHIPPED:
        raise GenointerpError(
            f"no shipped built-in model {version!r}. Fix: use one of {', '.join(SHIPPED)}, "
            "or the path of a folder written by 'genointerp lm train'"
        )
    return Path(__file__).resolve().parent / "weights" / SHIPPED[version]


class TinyAdapter(Adapter):
    """Adapter for :class:`TinyDNA`.  Tokens are nucleotides, so no mapping is needed."""

    name = "tiny"
    causal = True
    acgt_logits = True

    def __init__(self, model: TinyDNA, *, model_id: str, device=None, dtype=None) -> None:
        self._device = resolve_device(device)
        self._dtype = resolve_dtype(dtype, self._device)
        self.model = model.to(self._device).eval()
        self.model_id = model_id
        self.d_model = model.config.d_model
        self.context_length = 1 << 20  # a convolution takes any length; memory is the limit
        self.receptive_field = model.config.receptive_field

    @property
    def layers(self) -> list[str]:
        return self.model.layer_names

    @property
    def default_min_context(self) -> int:
        """The receptive field: windowed activations then equal a whole-contig pass."""
        return self.receptive_field - 1

    def tokenize(self, seq: str) -> Tokens:
        codes = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
        ids = torch.from_numpy(nucleotide_index(codes).astype(np.int64))
        return Tokens(ids, np.arange(len(seq)))

    def forward(self, codes, layers: Sequence[str]) -> ModelOutput:
        return self._forward(codes, layers)

    def _forward(self, codes, layers: Sequence[str], *, grad: bool = False) -> ModelOutput:
        tokens = torch.as_tensor(nucleotide_index(np.asarray(codes)), dtype=torch.long)
        tokens = tokens.to(self._device)
        use_autocast = self._dtype != torch.float32
        with torch.enable_grad() if grad else nullcontext():  # grad: even in a no_grad caller
            with (
                torch.inference_mode(not grad),
                torch.autocast(self._device.type, dtype=self._dtype, enabled=use_autocast),
            ):
                logits, acts = self.model(tokens, layers)
            acts = {name: a.float() for name, a in acts.items()}
            return ModelOutput(acts, logits.float() if logits.numel() else None)

    def splice(self, codes, layer: str, edit, *, grad: bool = False) -> torch.Tensor:
        self.check_layers(layer)

        def replace(module, args, output):  # a forward hook's return replaces the output
            return edit(output.float()).to(output.dtype)

        handle = self.model.get_submodule(layer).register_forward_hook(replace)
        try:
            return self._forward(codes, [], grad=grad).logits
        finally:
            handle.remove()


@register_adapter("tiny")
def load_tiny(path: str | Path | None = None, *, device=None, dtype=None) -> TinyAdapter:
    """Load the built-in model: shipped weights (``None`` for the default, or a version
    name from :data:`SHIPPED`: ``"v1"``, ``"v2"``), or a directory from ``lm train``.

    Examples
    --------
    >>> import genointerp as gi
    >>> gi.models.load_model("tiny", "v1").model_id
    'tiny:genointerp-tiny-v1'
    """
    if path is None or str(path) in SHIPPED:
        directory = default_weights_dir(DEFAULT_VERSION if path is None else str(path))
    else:
        directory = Path(path)
    model, record = read_tiny(directory)
    model_id = f"tiny:{record.get('model_id', model.config.name)}"
    return TinyAdapter(model, model_id=model_id, device=device, dtype=dtype)


def random_tiny(
    seed: int = 0, config: TinyConfig | None = None, *, device=None, dtype=None
) -> TinyAdapter:
    """The built-in architecture with freshly initialised, untrained weights: a control.

    Running the same pipeline (extract, SAE, alignment) on this copy shows what an SAE
    finds in activations that carry no learned knowledge of DNA, only the architecture's
    inductive biases (e.g. nucleotide identity passed up the residual stream).

    Parameters
    ----------
    seed
        Seeds the initialisation; the same seed gives the same weights (on one torch
        install).  The global torch RNG is left as it was.
    config
        Architecture; default the shipped model's (``config.json`` of the package weights).
    device, dtype
        As for :func:`load_tiny`.

    Returns
    -------
    TinyAdapter
        Its ``model_id`` is ``tiny:random-init-seed<seed>``; with a ``config`` other than
        the shipped one, a short hash of that config is appended so that differently
        shaped random models never share an id.

    Examples
    --------
    >>> import genointerp as gi
    >>> control = gi.models.random_tiny(seed=0)
    >>> control.model_id
    'tiny:random-init-seed0'
    >>> control.layers == gi.models.load_model("tiny").layers
    True
    """
    shipped = _shipped_config()
    config = shipped if config is None else config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyDNA(config)
    model_id = f"tiny:{_random_model_id(seed, config, shipped)}"
    return TinyAdapter(model, model_id=model_id, device=device, dtype=dtype)


def _random_model_id(seed: int, config: TinyConfig, shipped: TinyConfig) -> str:
    """``random-init-seed<seed>``, plus a hash of ``config`` when it is not the shipped one."""
    name = f"random-init-seed{seed}"
    if config != shipped:
        digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()
        name += f"-{digest[:8]}"
    return name


def _shipped_config() -> TinyConfig:
    """Architecture of the weights that ship with the package."""
    record = json.loads((default_weights_dir() / CONFIG_FILE).read_text())
    return TinyConfig(**record["model"])


__all__ = [
    "N_INDEX",
    "TinyAdapter",
    "TinyConfig",
    "TinyDNA",
    "grow",
    "load_tiny",
    "random_tiny",
    "read_tiny",
    "save_tiny",
]
