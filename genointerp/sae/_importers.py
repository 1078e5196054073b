"""Turn SAEs trained by other tools into genointerp SAEs (a registry of importers).

- ``saelens``: a SAELens checkpoint directory (``cfg.json`` + ``sae_weights.safetensors``);
  architectures ``standard`` (ReLU), ``topk`` and ``jumprelu``.
- ``goodfire-evo2``: Goodfire's released Evo 2 SAE, a ``.pt`` state dict of a tied
  BatchTopK SAE with keys ``W`` (d_model, d_sae), ``b_enc``, ``b_dec``, possibly
  prefixed ``_orig_mod.`` (saved from a ``torch.compile``-d module).  It encodes
  ``ReLU(x @ W + b_enc)`` with batch top-k and decodes ``f @ W.T + b_dec``.

Files are read only with safetensors or ``torch.load(weights_only=True)``
(:mod:`genointerp._weights`): a checkpoint with pickled objects is refused, no code runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from .._filekind import wrong_kind
from .._registry import Registry
from .._weights import load_safetensors, load_torch_file
from ..errors import GenointerpError, StoreVersionError
from ._arch import SAE, build_sae
from ._config import SAEConfig
from ._io import CONFIG_FILE, WEIGHTS_FILE, Provenance, read_json, save_sae, set_weights

log = logging.getLogger(__name__)

Importer = Callable[..., tuple[SAE, Provenance]]
_IMPORTERS: Registry[Importer] = Registry("SAE format")


def register_importer(name: str) -> Callable[[Importer], Importer]:
    """Decorator: make a checkpoint reader available to :func:`import_sae` under ``name``."""
    return _IMPORTERS.register(name)


def list_importers() -> list[str]:
    return _IMPORTERS.names()


def import_sae(
    kind: str,
    path: str | Path,
    out: str | Path | None = None,
    *,
    model_id: str | None = None,
    layer: str | None = None,
    **options,
) -> tuple[SAE, Provenance]:
    """Read a foreign SAE checkpoint; with ``out``, save it in genointerp's layout.

    Parameters
    ----------
    kind
        ``"saelens"`` or ``"goodfire-evo2"`` (see :func:`list_importers`).
    path
        The checkpoint: a SAELens directory or a Goodfire ``.pt`` file.
    out
        Directory to write ``cfg.json`` + ``sae_weights.safetensors`` to.
    model_id, layer
        genointerp's names of the model and layer the SAE reads (e.g. ``"evo2:evo2_7b"``,
        ``"blocks.26"``); they override what the checkpoint says, and are checked every
        time the SAE is used.
    **options
        Importer options, e.g. ``k`` for ``goodfire-evo2`` (its files do not record k).
    """
    reader = _IMPORTERS.get(kind)
    path = Path(path)
    if not path.exists():
        raise GenointerpError(f"{path}: no such file or directory. Fix: check the path")
    sae, provenance = reader(path, **options)
    if model_id is not None:
        provenance.model_id = model_id
    if layer is not None:
        provenance.layer = provenance.hook = layer
    if not provenance.model_id or not provenance.layer:
        log.warning(
            "%s: no model or layer recorded, so nothing will stop this SAE from being used "
            "with the wrong one; pass model_id= and layer= (--model-id, --layer)",
            path,
        )
    if out is not None:
        save_sae(sae, out, provenance)
    return sae.eval(), provenance


# SAELens architecture -> genointerp architecture.
_FROM_SAELENS = {"standard": "relu", "relu": "relu", "topk": "topk", "jumprelu": "jumprelu"}


@register_importer("saelens")
def read_saelens(path: Path) -> tuple[SAE, Provenance]:
    """A SAELens checkpoint directory, new (6.x) or old (``activation_fn_str``) cfg keys."""
    cfg_path = path / CONFIG_FILE
    if path.is_file():
        other = wrong_kind(path)
        raise GenointerpError(
            f"{path}: is a file, not a SAELens checkpoint folder{'; ' + other if other else ''}. "
            f"Fix: pass the directory SAELens saved the SAE to ({CONFIG_FILE} and {WEIGHTS_FILE})"
        )
    if not cfg_path.is_file() or not (path / WEIGHTS_FILE).is_file():
        raise GenointerpError(
            f"{path}: not a SAELens checkpoint (needs {CONFIG_FILE} and {WEIGHTS_FILE}). "
            "Fix: pass the directory SAELens saved the SAE to"
        )
    fix = "pass the cfg.json SAELens wrote with these weights"
    cfg = read_json(cfg_path, fix)
    if not isinstance(cfg, dict):
        raise StoreVersionError(f"{cfg_path}: is not a JSON object of settings. Fix: {fix}")
    architecture = _saelens_architecture(cfg, cfg_path)
    normalise = cfg.get("normalize_activations") or "none"
    if normalise != "none":  # SAELens sets "none" once it has folded its scaling in
        raise GenointerpError(
            f"{cfg_path}: normalize_activations={normalise!r}: the weights expect normalised "
            "inputs and the scale is not in the checkpoint. Fix: save the SAE from SAELens "
            "with its normalisation folded in (save_inference_model), which writes 'none'"
        )
    d_in, d_sae = _cfg_int(cfg, "d_in", cfg_path), _cfg_int(cfg, "d_sae", cfg_path)
    k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k") or 1
    try:
        config = SAEConfig(
            architecture=architecture,
            d_sae=d_sae,
            k=int(k),
            apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
            unit_norm_decoder=False,
        )
        sae = build_sae(config, d_in)
    except (TypeError, ValueError) as err:
        raise StoreVersionError(f"{cfg_path}: impossible settings ({err}). Fix: {fix}") from None
    weights = path / WEIGHTS_FILE
    set_weights(sae, load_safetensors(weights, "pass the weights SAELens saved"), str(weights))
    metadata = cfg.get("metadata") or {}
    hook = metadata.get("hook_name") or cfg.get("hook_name") or ""
    provenance = Provenance(
        model_id=metadata.get("model_name") or cfg.get("model_name") or "",
        layer=hook,
        hook=hook,
        d_model=d_in,
        source="saelens",
    )
    return sae, provenance


def _cfg_int(cfg: dict, key: str, where: Path) -> int:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problem = f"no {key!r}" if value is None else f"{key} is {value!r}, not a positive integer"
        raise StoreVersionError(
            f"{where}: {problem}. Fix: pass the cfg.json SAELens wrote with these weights"
        )
    return value


def _saelens_architecture(cfg: dict, where: Path) -> str:
    name = cfg.get("architecture", "standard")
    if name == "standard" and cfg.get("activation_fn_str") == "topk":
        name = "topk"  # SAELens < 6 marked TopK SAEs by their activation function
    if name not in _FROM_SAELENS:
        raise GenointerpError(
            f"{where}: SAELens architecture {name!r} is not supported. "
            f"Fix: use one of {', '.join(sorted(_FROM_SAELENS))}"
        )
    return _FROM_SAELENS[name]


@register_importer("goodfire-evo2")
def read_goodfire_evo2(path: Path, k: int = 64) -> tuple[SAE, Provenance]:
    """Goodfire's ``BatchTopKTiedSAE`` state dict for Evo 2 (k = 64 in their release)."""
    fix = "pass the .pt state dict of Goodfire's Evo 2 SAE (BatchTopKTiedSAE)"
    state = load_torch_file(path, fix)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise StoreVersionError(f"{path}: expected a state dict. Fix: {fix}")
    state = {str(key).removeprefix("_orig_mod."): value for key, value in state.items()}
    missing = {"W", "b_enc", "b_dec"} - set(state)
    if missing:
        raise StoreVersionError(
            f"{path}: no {', '.join(sorted(missing))} in the state dict (has "
            f"{', '.join(sorted(state))}). Fix: {fix}"
        )
    if not all(isinstance(state[k], torch.Tensor) for k in ("W", "b_enc", "b_dec")):
        raise StoreVersionError(f"{path}: W, b_enc and b_dec must be tensors. Fix: {fix}")
    if state["W"].ndim != 2:
        raise StoreVersionError(
            f"{path}: W has shape {tuple(state['W'].shape)}, expected (d_model, d_sae). Fix: {fix}"
        )
    w = state["W"].float()  # (d_model, d_sae)
    d_model, d_sae = w.shape
    config = SAEConfig(
        architecture="batchtopk", d_sae=d_sae, k=k, tied=True, apply_b_dec_to_input=False
    )
    sae = build_sae(config, d_model)
    tensors = {
        "W_enc": w,
        "W_dec": w.T,
        "b_enc": state["b_enc"].float(),
        "b_dec": state["b_dec"].float(),
        "threshold": torch.zeros(d_sae),  # none released: batch top-k in inference
    }
    set_weights(sae, tensors, str(path))
    return sae, Provenance(d_model=d_model, source="goodfire-evo2")


__all__ = [
    "import_sae",
    "list_importers",
    "read_goodfire_evo2",
    "read_saelens",
    "register_importer",
]
