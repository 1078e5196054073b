"""SAE checkpoints on disk: SAELens's layout plus genointerp's provenance.

A directory holds ``sae_weights.safetensors`` (``W_enc``, ``W_dec``, ``b_enc``,
``b_dec`` and, for threshold architectures, ``threshold``) and ``cfg.json``, whose
top-level keys are SAELens's (``architecture``, ``d_in``, ``d_sae``, ``k``,
``apply_b_dec_to_input``, ``normalize_activations``, ``metadata``...) and whose
``genointerp`` block records the exact architecture and where the SAE comes from:
model, layer, hook, normalisation constant and the checksum of the training genome.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .._atomic import atomic_path
from .._filekind import wrong_kind
from .._weights import load_safetensors
from ..errors import GenointerpError, SAEMismatchError, StoreVersionError
from ..names import ENCODING_TYPE, ENCODING_VERSION
from ._arch import SAE, build_sae
from ._config import SAEConfig

WEIGHTS_FILE = "sae_weights.safetensors"
CONFIG_FILE = "cfg.json"
SAE_TYPE = "sae"
SAE_VERSION = "0.1.0"

# genointerp architecture -> SAELens architecture name with the same inference maths.
_SAELENS_NAMES = {
    "topk": "topk",
    "batchtopk": "jumprelu",
    "relu": "standard",
    "jumprelu": "jumprelu",
}


@dataclass
class Provenance:
    """Where an SAE's training activations came from; checked before the SAE is used."""

    model_id: str = ""
    """Model the activations came from (``Adapter.model_id``)."""
    layer: str = ""
    """Layer (module path) the SAE reads, or a joint strand view of one (``blocks.5+rc``)."""
    hook: str = ""
    """What exactly is read at that layer: ``<layer>.output`` for genointerp stores
    (``<base>.output+rc`` for a joint strand view)."""
    d_model: int = 0
    """Width of the SAE's input: the layer's d_model (twice it for a joint strand view)."""
    normalisation_scale: float = 1.0
    """Inputs were multiplied by this while training; already folded into the saved weights."""
    data_checksum: str = ""
    """Checksum of the genome the activations were extracted from."""
    store: str = ""
    """Activation store the SAE was trained on."""
    tokens: int = 0
    """Training positions seen."""
    seed: int = 0
    """Seed of training; with ``eval_fraction`` it names the held-out chunks of the store."""
    eval_fraction: float = 0.0
    """Fraction of the store's chunks held out from training (0: none)."""
    source: str = "genointerp"
    """``genointerp`` or the importer that produced the checkpoint."""


def check_compatible(provenance: Provenance, model_id: str | None, layer: str | None, what: str):
    """Refuse to pair an SAE with another model or layer than it was trained on."""
    problems = []
    if model_id is not None and provenance.model_id and model_id != provenance.model_id:
        problems.append(f"model {provenance.model_id!r}, not {model_id!r}")
    if layer is not None and provenance.layer and layer != provenance.layer:
        problems.append(f"layer {provenance.layer!r}, not {layer!r}")
    if problems:
        raise SAEMismatchError(
            f"{what}: this SAE was trained on activations of {' and '.join(problems)}. "
            "Fix: use an SAE trained for this model and layer, or run the pipeline with "
            f"model {provenance.model_id!r} at layer {provenance.layer!r}"
        )


def save_sae(sae: SAE, directory: str | Path, provenance: Provenance) -> Path:
    """Write ``cfg.json`` and ``sae_weights.safetensors`` to ``directory``, each atomically.

    The SAE must already take raw activations (trainers fold their normalisation
    in first, see :meth:`SAE.fold_scale`).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(_tensors(sae), str(tmp), metadata={"format": "pt"})
    with atomic_path(directory / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(_cfg(sae, provenance), indent=2) + "\n")
    return directory


def _tensors(sae: SAE) -> dict[str, torch.Tensor]:
    tensors = {
        "W_enc": sae.W_enc,
        "W_dec": sae.W_dec,
        "b_enc": sae.b_enc,
        "b_dec": sae.b_dec,
    }
    threshold = sae.thresholds()
    if threshold is not None:
        tensors["threshold"] = threshold
    return {k: v.detach().float().cpu().contiguous().clone() for k, v in tensors.items()}


def _cfg(sae: SAE, provenance: Provenance) -> dict:
    architecture = _SAELENS_NAMES.get(sae.architecture, sae.architecture)
    threshold = sae.thresholds()
    if sae.architecture == "batchtopk" and not bool((threshold > 0).any()):
        # No inference threshold (e.g. Goodfire's release): as "jumprelu" SAELens would read
        # a dense ReLU SAE.  A name it does not know makes it refuse instead.
        architecture = "batchtopk"
    cfg = {
        "architecture": architecture,
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": sae.apply_b_dec_to_input,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "model_name": provenance.model_id,
            "hook_name": provenance.hook or provenance.layer,
            "sae_lens_training_version": None,
        },
    }
    if sae.architecture == "topk":
        cfg["k"] = sae.k
    cfg["genointerp"] = {
        ENCODING_TYPE: SAE_TYPE,
        ENCODING_VERSION: SAE_VERSION,
        "sae": asdict(sae.config) | {"d_sae": sae.d_sae},
        "provenance": asdict(provenance),
    }
    return cfg


def load_sae(
    directory: str | Path, *, model_id: str | None = None, layer: str | None = None
) -> tuple[SAE, Provenance]:
    """Load an SAE written by :func:`save_sae` (or an importer) in inference mode.

    Parameters
    ----------
    directory
        Folder with ``cfg.json`` and ``sae_weights.safetensors``.
    model_id, layer
        What the caller will feed it; an SAE trained on another model or layer is
        refused with :class:`~genointerp.errors.SAEMismatchError`.

    Examples
    --------
    >>> sae, prov = load_sae("runs/ecoli-topk")                 # doctest: +SKIP
    >>> features = sae.encode(store.read(prov.layer, "NC_000913.3")[:1000])  # doctest: +SKIP
    """
    directory = Path(directory)
    cfg = _read_cfg(directory)
    block = cfg["genointerp"]
    try:
        config = SAEConfig(**block["sae"])
        provenance = Provenance(**block["provenance"])
        d_in = int(cfg["d_in"])
    except (TypeError, ValueError, KeyError) as err:
        raise StoreVersionError(
            f"{directory / CONFIG_FILE}: bad genointerp block or d_in ({type(err).__name__}: "
            f"{err}). Fix: write the SAE again with 'genointerp sae train' or 'sae import'"
        ) from err
    check_compatible(provenance, model_id, layer, str(directory))
    sae = build_sae(config, d_in)
    _load_tensors(sae, directory / WEIGHTS_FILE)
    return sae.eval(), provenance


def _read_cfg(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if directory.is_file():
        other = wrong_kind(directory)
        raise GenointerpError(
            f"{directory}: is a file, not an SAE folder{'; ' + other if other else ''}. Fix: "
            f"give the folder that holds {CONFIG_FILE} and {WEIGHTS_FILE} (from 'genointerp sae "
            "train' or 'genointerp sae import')"
        )
    if not path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise GenointerpError(
            f"{directory}: no SAE here (needs {CONFIG_FILE} and {WEIGHTS_FILE}). "
            "Fix: train one with 'genointerp sae train' or convert one with 'genointerp sae import'"
        )
    cfg = read_json(path, "restore the file, or train or import the SAE again")
    block = cfg.get("genointerp") if isinstance(cfg, dict) else None
    if not isinstance(block, dict) or block.get(ENCODING_TYPE) != SAE_TYPE:
        raise StoreVersionError(
            f"{path}: no genointerp block; this looks like a checkpoint of another tool. "
            "Fix: convert it first with 'genointerp sae import --format saelens'"
        )
    if block.get(ENCODING_VERSION) != SAE_VERSION:
        raise StoreVersionError(
            f"{path}: SAE format version {block.get(ENCODING_VERSION)}, this genointerp reads "
            f"{SAE_VERSION}. Fix: train or import the SAE again with this version"
        )
    return cfg


def read_json(path: Path, fix: str) -> object:
    """A JSON file (an SAE's ``cfg.json``), with one-line errors naming the line and ``fix``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise StoreVersionError(f"{path}: is not UTF-8 text, so not JSON. Fix: {fix}") from None
    except json.JSONDecodeError as err:
        raise StoreVersionError(
            f"{path}: not valid JSON (line {err.lineno}: {err.msg}). Fix: {fix}"
        ) from None


def _load_tensors(sae: SAE, path: Path) -> None:
    tensors = load_safetensors(path, "restore the file, or train or import the SAE again")
    set_weights(sae, tensors, str(path))


@torch.no_grad()
def set_weights(sae: SAE, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Copy SAELens-named tensors into ``sae``, checking every name and shape."""
    expected = {
        "W_enc": (sae.d_in, sae.d_sae),
        "W_dec": (sae.d_sae, sae.d_in),
        "b_enc": (sae.d_sae,),
        "b_dec": (sae.d_in,),
    }
    if sae.thresholds() is not None:
        expected["threshold"] = (sae.d_sae,)
    for name, shape in expected.items():
        if name not in tensors:
            raise StoreVersionError(
                f"{where}: no tensor {name!r} (has {', '.join(sorted(tensors))}). "
                "Fix: use a checkpoint of this architecture"
            )
        if tuple(tensors[name].shape) != shape:
            raise StoreVersionError(
                f"{where}: tensor {name!r} has shape {tuple(tensors[name].shape)}, expected "
                f"{shape} from cfg.json. Fix: the weights and cfg.json do not belong together"
            )
    sae.W_dec.copy_(tensors["W_dec"])
    if not sae.tied:
        sae.W_enc_param.copy_(tensors["W_enc"])
    sae.b_enc.copy_(tensors["b_enc"])
    sae.b_dec.copy_(tensors["b_dec"])
    if "threshold" in expected:
        sae.set_threshold(tensors["threshold"].float())


__all__ = [
    "CONFIG_FILE",
    "SAE_TYPE",
    "SAE_VERSION",
    "WEIGHTS_FILE",
    "Provenance",
    "check_compatible",
    "load_sae",
    "save_sae",
    "set_weights",
]
