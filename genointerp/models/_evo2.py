"""Adapter for Evo 2 (Arc Institute): a causal StripedHyena 2 DNA model, one token per nucleotide.

Evo 2's tokens are the byte values of the nucleotides (``A`` -> 65), so every
nucleotide maps to its own token and no re-alignment is needed. Evo 2 runs only on
CUDA GPUs; the ``evo2`` package and its install notes are at
https://github.com/ArcInstitute/evo2.

The adapter drives the ``evo2.Evo2`` object through its documented call::

    (logits, _), embeddings = evo2_model(input_ids, return_embeddings=True, layer_names=[...])

where ``logits`` is ``(batch, pos, vocab)`` and ``embeddings`` maps each layer name (a
module path under ``evo2_model.model``, e.g. ``blocks.26``) to ``(batch, pos, d)`` in
bfloat16.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from ..errors import GenointerpError
from ._base import (
    Adapter,
    ModelOutput,
    Tokens,
    normalise_codes,
    register_adapter,
    resolve_device,
    resolve_dtype,
    string_codes,
)
from ._hf import EditHook

DEFAULT_MODEL = "evo2_7b"
INSTALL_NOTES = "https://github.com/ArcInstitute/evo2#installation"


def _config_value(config, key: str):
    if isinstance(config, Mapping):
        return config.get(key)
    return getattr(config, key, None)


def _import_evo2():
    try:
        return importlib.import_module("evo2")
    except ModuleNotFoundError as err:
        if err.name != "evo2":
            raise _broken_install(err) from err
        raise GenointerpError(
            'the "evo2" model adapter needs the evo2 package, which is not installed. '
            f"Fix: pip install evo2 on a machine with a CUDA GPU; see {INSTALL_NOTES}"
        ) from err
    except ImportError as err:
        raise _broken_install(err) from err


def _broken_install(err: ImportError) -> GenointerpError:
    return GenointerpError(
        f"the evo2 package is installed but importing it failed ({err}). "
        f"Fix: install its dependencies (CUDA, Transformer Engine, ...) as {INSTALL_NOTES} says"
    )


def _depth_order(network: nn.Module, blocks: list[str]) -> list[str]:
    """Embedding modules registered before ``blocks``, the blocks, then norms registered after.

    StripedHyena registers ``embedding_layer``, ``blocks``, ``norm`` (absent when the config
    turns the final norm off), ``unembed`` in that order, and calls each in its forward.
    """
    before, after, past = [], [], False
    for name, child in network.named_children():
        if name == "blocks":
            past = True
        elif not past and isinstance(child, nn.Embedding):
            before.append(name)
        elif past and "Norm" in type(child).__name__:
            after.append(name)
    return [*before, *blocks, *after]


@register_adapter("evo2")
def load_evo2(
    path: str | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    context_length: int | None = None,
) -> Evo2Adapter:
    """Load an Evo 2 checkpoint through the ``evo2`` package (CUDA only).

    Parameters
    ----------
    path
        Evo 2 model name: ``"evo2_7b"`` (default), ``"evo2_40b"``, ``"evo2_7b_base"``,
        ``"evo2_40b_base"`` or ``"evo2_1b_base"``. The ``evo2`` package fetches the
        weights from the Hugging Face hub unless they are in its cache.
    device
        ``None``, ``"auto"``, ``"cuda"`` or ``"cuda:0"``: Evo 2 places itself on the first
        visible GPU (choose GPUs with ``CUDA_VISIBLE_DEVICES``).
    dtype
        ``None`` or ``"bfloat16"``: Evo 2 computes in bfloat16. Activations are returned
        as float32 either way.
    context_length
        Longest window to accept, in nucleotides; default the checkpoint's ``max_seqlen``
        (1,048,576 for ``evo2_7b``; far more than one GPU holds, so pass a smaller value).

    Examples
    --------
    >>> import genointerp as gi
    >>> model = gi.models.load_model("evo2", "evo2_7b")  # doctest: +SKIP
    >>> model.run("ACGTACGT", layers=["blocks.26"]).activations["blocks.26"].shape  # doctest: +SKIP
    torch.Size([1, 8, 4096])
    """
    name = DEFAULT_MODEL if path is None else str(path)
    evo2 = _import_evo2()
    if not torch.cuda.is_available():
        raise GenointerpError(
            f"Evo 2 ({name}) runs only on CUDA GPUs and CUDA is not available here. "
            f"Fix: run on a machine with an NVIDIA GPU (see {INSTALL_NOTES}), or use the "
            "'tiny' or 'hf' adapter on CPU"
        )
    device = resolve_device(device)
    if device.type != "cuda" or device.index not in (None, 0):
        raise GenointerpError(
            f"Evo 2 places itself on the first visible GPU, so device {device} cannot be used. "
            "Fix: leave device unset and choose the GPU with CUDA_VISIBLE_DEVICES"
        )
    if resolve_dtype(dtype, device) != torch.bfloat16:
        raise GenointerpError(
            f"Evo 2 computes in bfloat16, not {dtype}. Fix: leave dtype unset or use 'bfloat16'"
        )
    try:
        module = evo2.Evo2(name)
    except ValueError as err:  # Evo2 refuses unknown names, listing the valid ones
        raise GenointerpError(f"cannot load Evo 2 model {name!r}: {err}") from err
    return Evo2Adapter.from_module(
        module, name=name, dtype=torch.bfloat16, context_length=context_length
    )


class Evo2Adapter(Adapter):
    """An ``evo2.Evo2`` object (or anything with its call signature) speaking nucleotides.

    ``layers`` are in depth order: the token embedding (``embedding_layer``), ``blocks.0``
    ... ``blocks.<n-1>``, then the final norm (``norm``); deeper module paths under
    ``evo2_model.model`` (e.g. ``blocks.28.mlp.l3``) are accepted too.
    """

    name = "evo2"
    causal = True

    def __init__(
        self,
        module,
        *,
        model_id: str,
        d_model: int,
        context_length: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.module = module
        self.model_id = model_id
        self.d_model = d_model
        self.context_length = context_length
        self._device = device
        self._dtype = dtype
        network = module.model
        self._blocks = [f"blocks.{i}" for i in range(len(network.blocks))]
        self._layers = _depth_order(network, self._blocks)
        self._named_modules = {name for name, _ in network.named_modules() if name}

    @classmethod
    def from_module(
        cls,
        module,
        *,
        name: str = DEFAULT_MODEL,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        d_model: int | None = None,
        context_length: int | None = None,
    ) -> Evo2Adapter:
        """Wrap an already-built Evo 2 object (``.tokenizer``, ``.model.blocks``, ``__call__``).

        ``d_model`` and ``context_length`` default to ``hidden_size`` and ``max_seqlen`` of
        ``module.model.config``; ``device`` to where the first weight lives; ``dtype`` to
        bfloat16.
        """
        network = getattr(module, "model", None)
        if not isinstance(getattr(network, "blocks", None), nn.ModuleList):
            raise GenointerpError(
                f"{type(module).__name__} does not look like an Evo 2 model: it needs "
                "a .model attribute whose .blocks is an nn.ModuleList. Fix: pass evo2.Evo2(name)"
            )
        config = getattr(network, "config", None) or {}
        d_model = d_model or _config_value(config, "hidden_size")
        if not d_model:
            raise GenointerpError(
                f"cannot tell the width of {name!r}: module.model.config has no hidden_size. "
                "Fix: pass d_model="
            )
        if device is None:
            device = next(network.parameters()).device
        return cls(
            module,
            model_id=f"evo2:{name}",
            d_model=int(d_model),
            context_length=int(context_length or _config_value(config, "max_seqlen") or 0),
            device=torch.device(device),
            dtype=torch.bfloat16 if dtype is None else resolve_dtype(dtype, torch.device(device)),
        )

    @property
    def layers(self) -> list[str]:
        return list(self._layers)

    @property
    def blocks(self) -> list[str]:
        """``blocks.0`` ... ``blocks.<n-1>``."""
        return list(self._blocks)

    def accepts_layer(self, layer: str) -> bool:
        """Any module path of the model, not only the blocks :attr:`layers` lists."""
        return layer in self._named_modules

    def tokenize(self, seq: str) -> Tokens:
        """Byte tokens of ``seq`` (upper-cased; anything but A/C/G/T read as N), one per base."""
        codes = string_codes(seq)
        ids = torch.tensor(self.module.tokenizer.tokenize(codes.tobytes().decode("ascii")))
        if ids.shape != (len(codes),):
            raise GenointerpError(
                f"the tokenizer of {self.model_id!r} gave {ids.numel()} tokens for "
                f"{len(codes)} nucleotides; Evo 2 has one token per nucleotide. "
                "Fix: pass an Evo 2 model (evo2.Evo2)"
            )
        return Tokens(ids.to(torch.int64), np.arange(len(codes)))

    def forward(self, codes: np.ndarray | torch.Tensor, layers: Sequence[str]) -> ModelOutput:
        """Per-nucleotide activations ``(batch, pos, d)`` and logits ``(batch, pos, vocab)``.

        Both are float32 (Evo 2 gives bfloat16) and live on :attr:`device`.
        """
        layers = self.check_layers(layers)
        ids = self._ids(codes)  # (batch, pos)
        with torch.inference_mode():
            outputs, embeddings = self.module(ids, return_embeddings=True, layer_names=layers)
        acts = {}
        for name in layers:
            h = embeddings[name]  # (batch, pos, d), bfloat16
            if h.ndim != 3 or h.shape[:2] != ids.shape:
                raise GenointerpError(
                    f"layer {name!r} of {self.model_id!r} gave shape {tuple(h.shape)}, not "
                    f"(batch, pos, d) = ({ids.shape[0]}, {ids.shape[1]}, d). "
                    f"Fix: use one of {', '.join(self.layers)}"
                )
            # a copy made outside inference mode is an ordinary tensor
            acts[name] = h.to(torch.float32, copy=True)
        logits = outputs[0].to(torch.float32, copy=True)  # (batch, pos, vocab)
        return ModelOutput(acts, logits)

    def splice(
        self,
        codes: np.ndarray | torch.Tensor,
        layer: str,
        edit: Callable[[torch.Tensor], torch.Tensor],
        *,
        grad: bool = False,
    ) -> torch.Tensor:
        """Logits ``(batch, pos, vocab)`` in float32 with ``layer``'s output replaced by
        ``edit(output)``.

        One token per nucleotide, so ``edit`` gets the per-nucleotide output ``(batch, pos, d)``
        in float32 (the first element of a block's ``(hidden, state)`` tuple; the state passes
        through) and returns that shape; the result is cast back to bfloat16. The pass runs
        the StripedHyena network ``module.model`` directly, with the same input as
        :meth:`forward`, because ``evo2.Evo2.__call__`` always runs under ``torch.no_grad()``;
        ``grad=True`` runs it with autograd on, so gradients reach anything ``edit`` used.
        """
        self.check_layers(layer)
        ids = self._ids(codes)  # (batch, pos)
        network = self.module.model
        hook = EditHook(self, layer, edit, tuple(ids.shape))
        handle = network.get_submodule(layer).register_forward_hook(hook)
        with torch.enable_grad() if grad else nullcontext():  # grad: even in a no_grad caller
            try:
                with torch.inference_mode(not grad):
                    logits, _ = network(ids)  # StripedHyena: (logits, inference state)
            finally:
                handle.remove()
            hook.check_fired()
            return logits.to(torch.float32, copy=True)  # (batch, pos, vocab)

    def _ids(self, codes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``(batch, pos)`` byte tokens on :attr:`device`, refusing windows over the limit."""
        codes = normalise_codes(codes)  # (batch, pos)
        if self.context_length and codes.shape[1] > self.context_length:
            raise GenointerpError(
                f"a window of {codes.shape[1]} nucleotides is longer than the "
                f"{self.context_length} model {self.model_id!r} takes. Fix: use shorter windows"
            )
        return torch.from_numpy(codes.astype(np.int32)).to(self.device)  # byte tokens
