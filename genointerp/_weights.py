"""Read weights without running code: safetensors, or ``torch.load(weights_only=True)``.

Every checkpoint genointerp reads (SAEs, imported SAEs, training checkpoints) goes through
here.  A file that holds pickled Python objects besides tensors is refused for safety, and
the error says so without passing on torch's advice to turn the check off.  A file of
another kind (an HDF5 store given as weights) is named as what it looks like.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

from ._filekind import sniff, wrong_kind
from .errors import CheckpointError, UnsafeCheckpointError

_CORRUPT = "is not a readable PyTorch checkpoint (truncated or corrupt)"
REFUSED = (
    "holds pickled Python objects besides tensors; refused for safety, since loading them "
    "could run any code they carry"
)


def load_torch_file(path: str | Path, fix: str, *, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors naming the file and ``fix``.

    Raises :class:`~genointerp.errors.UnsafeCheckpointError` for a pickle with objects that
    are not tensors or plain containers, :class:`~genointerp.errors.CheckpointError` for
    anything unreadable.
    """
    import torch

    path = Path(path)
    _check_file(path, fix)
    other = wrong_kind(path, "torch", "pickle", "binary")
    if other:  # torch.load would read some of these (safetensors) as if they were checkpoints
        raise CheckpointError(path, f"is not a PyTorch checkpoint: {other}", fix)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:  # the weights-only unpickler refused something
        kind = sniff(path)
        if kind is not None and kind.key in ("torch", "pickle") and "truncated" not in str(err):
            raise UnsafeCheckpointError(path, REFUSED, fix) from None
        raise CheckpointError(path, _CORRUPT, fix) from None
    except Exception:  # noqa: BLE001 - torch raises many types for a broken file
        raise CheckpointError(path, _CORRUPT, fix) from None


def load_safetensors(path: str | Path, fix: str) -> dict:
    """``safetensors.torch.load_file`` with one-line errors naming the file and ``fix``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    _check_file(path, fix)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        other = wrong_kind(path, "safetensors", "binary")
        if other:
            problem = f"is not a safetensors file: {other}"
        else:
            detail = " ".join(str(err).split())
            problem = f"is not a readable safetensors file (truncated or corrupt: {detail})"
        raise CheckpointError(path, problem, fix) from None


def _check_file(path: Path, fix: str) -> None:
    if not path.exists():
        raise CheckpointError(path, "no such file", fix)
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a weights file", fix)
    if path.stat().st_size == 0:
        raise CheckpointError(path, "is empty", fix)
