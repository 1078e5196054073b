"""Edits of SAE features inside the model: ablate, clamp or push along a decoder direction.

An edit reads the layer's output ``x``, encodes it with the SAE (``f = encode(x)``), changes
some features (``f'``) and writes back ``x + (f' - f) W_dec``: the SAE's reconstruction error
stays in the residual stream, so only what the edited features carry changes (the usual
"error term kept" splice).  For a push (``add``) the change is ``strength * W_dec[j]`` at
every position, whatever the feature's activation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..acts import ActivationStore
from ..errors import GenointerpError
from ..sae import SAE

Mode = Literal["ablate", "clamp", "add"]


@dataclass(frozen=True)
class FeatureEdit:
    """What to do to ``features`` of an SAE at every edited position.

    ``ablate`` sets them to 0; ``clamp`` sets them to ``value``; ``add`` adds ``value``
    times each feature's decoder direction (a delta in the layer's units, whether or not
    the feature fired).  Values are in the SAE's activation units: use
    :func:`scaled` to give them as multiples of each feature's maximum.
    """

    features: tuple[int, ...]
    mode: Mode = "ablate"
    value: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        if not self.features:
            raise GenointerpError("an edit needs at least one feature. Fix: name the features")
        if self.mode not in ("ablate", "clamp", "add"):
            raise GenointerpError(f"edit mode must be ablate, clamp or add, got {self.mode!r}")
        if isinstance(self.value, tuple) and len(self.value) != len(self.features):
            raise GenointerpError(
                f"{len(self.value)} values for {len(self.features)} features. "
                "Fix: give one value, or one per feature"
            )

    def values(self) -> torch.Tensor:
        """One value per feature, float32."""
        value = self.value if isinstance(self.value, tuple) else (self.value,) * len(self.features)
        return torch.tensor(value, dtype=torch.float32)

    def __str__(self) -> str:
        names = ",".join(map(str, self.features))
        if self.mode == "ablate":
            return f"ablate {names}"
        return (
            f"{self.mode} {names} to {self.value}"
            if self.mode == "clamp"
            else (f"add {self.value} x decoder of {names}")
        )


def ablate(features: int | Sequence[int]) -> FeatureEdit:
    """Set ``features`` to zero."""
    return FeatureEdit(_as_tuple(features), "ablate")


def clamp(features: int | Sequence[int], value: float | Sequence[float]) -> FeatureEdit:
    """Set ``features`` to ``value`` (SAE activation units) at every edited position."""
    return FeatureEdit(_as_tuple(features), "clamp", _value(value))


def add(features: int | Sequence[int], strength: float | Sequence[float]) -> FeatureEdit:
    """Add ``strength`` times each feature's decoder direction at every edited position."""
    return FeatureEdit(_as_tuple(features), "add", _value(strength))


def scaled(edit: FeatureEdit, maxima: np.ndarray | Sequence[float]) -> FeatureEdit:
    """``edit`` with its value(s) read as multiples of each feature's maximum activation
    (``maxima`` indexed by feature, e.g. the catalog's ``max`` column)."""
    maxima = np.asarray(maxima, dtype=np.float64)
    factors = edit.values().numpy()
    value = tuple(float(f * maxima[j]) for f, j in zip(factors, edit.features, strict=True))
    return FeatureEdit(edit.features, edit.mode, value)


def edit_function(
    sae: SAE, edit: FeatureEdit, where: torch.Tensor | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ``edit`` callable of :meth:`Adapter.splice` for ``sae`` and ``edit``.

    ``where`` (bool, ``(batch, positions)`` of the layer's output) limits the edit to those
    positions; None edits every one.
    """
    if sae.d_sae <= max(edit.features) or min(edit.features) < 0:
        raise GenointerpError(
            f"edit names feature {max(edit.features)}, but the SAE has {sae.d_sae} features "
            f"(0-{sae.d_sae - 1}). Fix: use feature indices of this SAE"
        )
    index = torch.tensor(edit.features, dtype=torch.long)
    values = edit.values()

    def apply(x: torch.Tensor) -> torch.Tensor:  # (batch, pos, d) float32
        if x.shape[-1] != sae.d_in:
            raise GenointerpError(
                f"the layer gives {x.shape[-1]} values per position, the SAE reads {sae.d_in}. "
                "Fix: splice at the SAE's own layer (a joint strand view cannot be spliced)"
            )
        w_dec = sae.W_dec[index].to(x)  # (n, d)
        if edit.mode == "add":
            delta = (values.to(x)[:, None] * w_dec).sum(0).expand_as(x)
        else:
            f = sae.encode(x.reshape(-1, x.shape[-1]))[:, index]  # (rows, n)
            target = torch.zeros_like(f) if edit.mode == "ablate" else values.to(x).expand_as(f)
            delta = ((target - f) @ w_dec).reshape(x.shape)
        if where is not None:
            delta = delta * where.to(x.device)[..., None].to(x.dtype)
        return x + delta

    return apply


@torch.no_grad()
def logits_and_layer(model, codes, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One unedited pass of ``model`` over ``codes`` ``(batch, length)``: its logits and
    ``layer``'s output, as the SAE reads it."""
    seen: list[torch.Tensor] = []

    def keep(x: torch.Tensor) -> torch.Tensor:  # the layer's output, left as it is
        seen[:] = [x]
        return x

    logits = model.splice(codes, layer, keep)
    return logits, seen[0]


def check_spliceable(layer: str) -> None:
    """A joint strand view reads two passes, so no edit of it fits in one: refused."""
    if ActivationStore.is_joint(layer):
        raise GenointerpError(
            f"layer {layer!r} is a joint strand view (own strand and reverse complement, two "
            "passes), so an edit of its features cannot be spliced into one pass. Fix: "
            "intervene with an SAE trained on the plain layer"
        )


def _as_tuple(features: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(features, int | np.integer):
        return (int(features),)
    return tuple(int(f) for f in features)


def _value(value: float | Sequence[float]) -> float | tuple[float, ...]:
    if isinstance(value, int | float | np.number):
        return float(value)
    return tuple(float(v) for v in value)


__all__ = ["FeatureEdit", "ablate", "add", "clamp", "edit_function", "scaled"]
