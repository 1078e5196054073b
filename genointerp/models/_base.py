"""The protocol every model adapter meets, and the registry that maps names to adapters.

An adapter wraps one DNA sequence model and speaks nucleotides on both sides:
it takes a batch of equal-length nucleotide sequences (upper-case ASCII codes,
as :meth:`genointerp.io.Genome.codes` returns them) and gives back, for every
nucleotide, the activations at the requested layers and the model's logits.
Tokenisers that group nucleotides (k-mers, BPE) are mapped back inside the
adapter, so callers never see tokens.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from .._registry import Registry
from ..errors import GenointerpError

# Upper-case ASCII code -> nucleotide index: A C G T -> 0 1 2 3, anything else -> 4 (N).
NUCLEOTIDES = "ACGT"
N_INDEX = 4
_CODE_TO_INDEX = np.full(256, N_INDEX, dtype=np.uint8)
for _i, _base in enumerate(NUCLEOTIDES):
    _CODE_TO_INDEX[ord(_base)] = _i
    _CODE_TO_INDEX[ord(_base.lower())] = _i
_ACGTN = np.frombuffer(b"ACGTN", dtype=np.uint8)
_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTNacgtn", b"TGCANtgcan", strict=True):
    _COMPLEMENT[_a] = _b


class LayerError(GenointerpError, KeyError):
    """A layer name the model does not have."""

    def __init__(self, model: str, layer: str, valid: Sequence[str]) -> None:
        close = difflib.get_close_matches(layer, valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        shown = ", ".join(valid[:12]) + (", ..." if len(valid) > 12 else "")
        super().__init__(
            f"model {model!r} has no layer {layer!r}. Fix: {hint}valid layers are {shown}"
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ModelOutput(NamedTuple):
    """What :meth:`Adapter.forward` returns; every tensor is per nucleotide."""

    activations: dict[str, torch.Tensor]  # layer -> (batch, pos, d_model), float32
    logits: torch.Tensor | None  # (batch, pos, vocab); for causal models row i predicts i + 1


class Tokens(NamedTuple):
    """A tokenised nucleotide string and where each nucleotide went."""

    ids: torch.Tensor  # (n_tokens,) int64, special tokens included
    token_of: np.ndarray  # (n_nucleotides,) index into ids of the token covering each nucleotide


def nucleotide_index(codes: np.ndarray) -> np.ndarray:
    """Map upper- or lower-case ASCII nucleotide codes to 0..3 (A C G T) and 4 (anything else)."""
    return _CODE_TO_INDEX[np.asarray(codes, dtype=np.uint8)]


def normalise_codes(codes: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(batch, pos)`` ASCII codes -> upper-case A/C/G/T, anything else N."""
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be a (batch, pos) array, got shape {codes.shape}")
    return _ACGTN[nucleotide_index(codes)]


def string_codes(seq: str) -> np.ndarray:
    """One nucleotide string -> normalised 1-D codes (upper-case A/C/G/T, anything else N)."""
    return normalise_codes(np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)[None])[0]


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of ASCII nucleotide codes along the last axis."""
    return np.ascontiguousarray(_COMPLEMENT[np.asarray(codes, dtype=np.uint8)][..., ::-1])


def as_codes(seqs: str | Sequence[str]) -> np.ndarray:
    """Turn one string or equal-length strings into a ``(batch, pos)`` uint8 code array."""
    if isinstance(seqs, str):
        seqs = [seqs]
    lengths = {len(s) for s in seqs}
    if len(lengths) != 1:
        raise ValueError(f"sequences in one batch must have one length, got {sorted(lengths)}")
    data = b"".join(s.upper().encode("ascii") for s in seqs)
    return np.frombuffer(data, dtype=np.uint8).reshape(len(seqs), -1)


class Adapter(ABC):
    """A DNA model behind a nucleotide-in, nucleotide-out interface.

    Attributes
    ----------
    name
        Registry name of the adapter kind (``"tiny"``, ``"hf"``, ``"evo2"``).
    model_id
        Identifies the weights, e.g. ``"tiny:genointerp-tiny-v1"`` or a hub id with its
        revision; the activation store records it so activations from two models never mix.
    causal
        True when position i only sees positions <= i (the left-context rules of
        :mod:`genointerp.acts` depend on it).
    d_model
        Width of the activations at every layer this adapter offers.
    context_length
        Longest input, in nucleotides, one forward pass takes (0: no known limit).
    acgt_logits
        True when logits ids 0-3 are A, C, G, T (the built-in model's vocabulary): the
        per-nucleotide losses of :mod:`genointerp.sae` and :mod:`genointerp.intervene`
        read them so.  Other vocabularies are not mapped yet.
    """

    name: str = ""
    model_id: str = ""
    causal: bool = True
    d_model: int = 0
    context_length: int = 0
    acgt_logits: bool = False

    @property
    @abstractmethod
    def layers(self) -> list[str]:
        """Layer names in depth order: the embedding(s), the blocks, then the final norm.

        Names are the model's own module paths, e.g. ``embed``, ``blocks.3``, ``norm``.
        """

    @property
    def blocks(self) -> list[str]:
        """The model's main stack of blocks in depth order, a sub-list of :attr:`layers`.

        By default the layers named ``<prefix>.<i>`` under the prefix that numbers most of
        them (``blocks.0`` ... ``blocks.9`` for the built-in model); adapters that know their
        block list override this.
        """
        groups: dict[str, list[str]] = {}
        for layer in self.layers:
            prefix, _, index = layer.rpartition(".")
            if prefix and index.isdigit():
                groups.setdefault(prefix, []).append(layer)
        return max(groups.values(), key=len, default=[])

    _device: torch.device = torch.device("cpu")
    _dtype: torch.dtype = torch.float32

    @property
    def device(self) -> torch.device:
        """Where the model's weights live."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the forward pass computes in."""
        return self._dtype

    @property
    def default_batch_size(self) -> int:
        """Windows per forward when extracting: 1 on CPU (small tensors stay in cache), 8 on GPU.

        Measured for the built-in model on 2 CPU cores: 122 k nt/s with one 16,384 nt window
        per forward, 49 k nt/s with eight.
        """
        return 8 if self.device.type == "cuda" else 1

    def accepts_layer(self, layer: str) -> bool:
        """Whether ``layer`` can be hooked; adapters may accept more than :attr:`layers` lists."""
        return layer in self.layers

    @abstractmethod
    def tokenize(self, seq: str) -> Tokens:
        """Tokenise one nucleotide string and say which token covers each nucleotide."""

    @abstractmethod
    def forward(self, codes: np.ndarray | torch.Tensor, layers: Sequence[str]) -> ModelOutput:
        """Run a ``(batch, pos)`` uint8 batch of ASCII nucleotide codes.

        Returns per-nucleotide activations at ``layers`` as float32 and the logits.
        """

    def splice(
        self,
        codes: np.ndarray | torch.Tensor,
        layer: str,
        edit: Callable[[torch.Tensor], torch.Tensor],
        *,
        grad: bool = False,
    ) -> torch.Tensor:
        """Logits (batch, pos, vocab) per nucleotide when ``layer``'s output is replaced by
        ``edit(output)``.

        ``edit`` gets and returns the layer's output per token, ``(batch, tokens, d_model)``
        in float32 (cast back to the model's dtype afterwards): per nucleotide for the
        built-in model and Evo 2, per k-mer or BPE token (special tokens and padding
        included) for Hugging Face models whose tokens group nucleotides.  An adapter that
        runs rows one at a time calls ``edit`` once per row.  Used to score an SAE's
        reconstruction inside the model and to intervene on its features.

        Parameters
        ----------
        codes
            ``(batch, pos)`` ASCII nucleotide codes, as for :meth:`forward`.
        layer
            The module path whose output is edited.
        edit
            ``(batch, tokens, d_model)`` float32 -> the same shape.
        grad
            Run with autograd on (no inference mode), so gradients flow from the logits
            back to anything ``edit`` used; off by default.
        """
        raise GenointerpError(
            f"the {self.name!r} adapter cannot splice edited activations into the model yet. "
            "Fix: score loss recovered with the built-in 'tiny' model, or skip it"
        )

    @property
    def default_layer(self) -> str:
        """The layer extracted when none is named: the middle block by depth.

        ``blocks[len(blocks) // 2]`` (``blocks.5`` of 10 blocks, ``blocks.6`` of 13); the
        middle of :attr:`layers` when the model has no block list.
        """
        choices = self.blocks or self.layers
        if not choices:
            raise GenointerpError(
                f"model {self.model_id or self.name!r} lists no layers, so it has no default "
                "layer. Fix: name a module path of the model as the layer"
            )
        return choices[len(choices) // 2]

    @property
    def default_window(self) -> int:
        """Nucleotides per forward pass when extracting (at most 16,384; ``context_length``
        0 means no limit)."""
        return min(self.context_length or 16384, 16384)

    @property
    def default_min_context(self) -> int:
        """Context each stored position gets by default: an eighth of the window."""
        return self.default_window // 8

    def check_layers(self, layers: str | Sequence[str]) -> list[str]:
        """Return ``layers`` as a list, raising :class:`LayerError` for unknown names."""
        layers = [layers] if isinstance(layers, str) else list(layers)
        for layer in layers:
            if not self.accepts_layer(layer):
                raise LayerError(self.model_id or self.name, layer, self.layers)
        if not layers:
            raise ValueError(f"no layers requested; valid layers are {', '.join(self.layers)}")
        return layers

    def run(self, seqs: str | Sequence[str], layers: str | Sequence[str]) -> ModelOutput:
        """Convenience for notebooks: ``forward`` on strings instead of code arrays."""
        return self.forward(as_codes(seqs), self.check_layers(layers))

    def describe(self) -> dict:
        """Provenance recorded with stored activations."""
        return {
            "adapter": self.name,
            "model_id": self.model_id,
            "causal": self.causal,
            "d_model": self.d_model,
            "context_length": self.context_length,
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_id={self.model_id!r}, d_model={self.d_model}, "
            f"layers={len(self.layers)}, device={self.device}, dtype={self.dtype})"
        )


_ADAPTERS: Registry[Callable[..., Adapter]] = Registry("model adapter")


def register_adapter(name: str) -> Callable[[Callable[..., Adapter]], Callable[..., Adapter]]:
    """Decorator: make a loader available to :func:`load_model` under ``name``."""
    return _ADAPTERS.register(name)


def list_adapters() -> list[str]:
    """Names :func:`load_model` accepts."""
    return _ADAPTERS.names()


def load_model(name: str = "tiny", path: str | None = None, **options) -> Adapter:
    """Load a model through its adapter.

    Parameters
    ----------
    name
        Adapter kind: ``"tiny"`` (the built-in model), ``"hf"`` (transformers) or ``"evo2"``.
    path
        Weights to load: a local directory (tiny, hf), a hub id (hf, only with
        ``allow_download=True``) or an Evo 2 model name. ``None`` means the default
        (for ``tiny``, the weights shipped with the package).
    **options
        Passed to the adapter's loader (``device``, ``dtype``, ...).

    Examples
    --------
    >>> import genointerp as gi
    >>> model = gi.models.load_model("tiny")
    >>> out = model.run("ACGTACGTAC", layers=["blocks.3"])
    >>> out.activations["blocks.3"].shape[:2]
    torch.Size([1, 10])
    """
    return _ADAPTERS.get(name)(path, **options)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"`` -> CUDA when available, else CPU; refuse CUDA when absent."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GenointerpError(
            f"device {device} requested but CUDA is not available. Fix: use device='cpu'"
        )
    return device


_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` -> float32 on CPU, bfloat16 on CUDA; names as in ``torch``."""
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise GenointerpError(f"unknown dtype {dtype!r}. Fix: use one of {', '.join(_DTYPES)}")
    return _DTYPES[dtype]
