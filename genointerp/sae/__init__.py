"""Sparse autoencoders on DNA-model activations: architectures, training, evaluation, I/O.

>>> import genointerp as gi
>>> config = gi.sae.SAETrainConfig(data=gi.sae.DataConfig(store="ecoli.h5"))  # doctest: +SKIP
>>> result = gi.sae.train_sae(config, "runs/ecoli-topk")                     # doctest: +SKIP
>>> sae, provenance = gi.sae.load_sae("runs/ecoli-topk", layer="blocks.5")  # doctest: +SKIP
"""

from ._arch import (
    SAE,
    BatchTopKSAE,
    ForwardOutput,
    JumpReLUSAE,
    ReLUSAE,
    TopKSAE,
    batch_topk,
    build_sae,
    calibrate_threshold,
    list_architectures,
    register_architecture,
)
from ._config import DataConfig, OptimConfig, SAEConfig, SAETrainConfig, StreamConfig
from ._data import ActivationBatches, ShuffledStream
from ._evaluate import evaluate_sae, loss_recovered
from ._importers import import_sae, list_importers, register_importer
from ._io import SAE_TYPE, SAE_VERSION, Provenance, load_sae, save_sae
from ._metrics import LossRecovered, RunningMetrics, SAEMetrics, measure
from ._stream import ModelBatches
from ._train import TrainResult, geometric_median, train_sae

__all__ = [
    "SAE",
    "SAE_TYPE",
    "SAE_VERSION",
    "ActivationBatches",
    "BatchTopKSAE",
    "DataConfig",
    "ForwardOutput",
    "JumpReLUSAE",
    "LossRecovered",
    "ModelBatches",
    "OptimConfig",
    "Provenance",
    "ReLUSAE",
    "RunningMetrics",
    "SAEConfig",
    "SAEMetrics",
    "SAETrainConfig",
    "ShuffledStream",
    "StreamConfig",
    "TopKSAE",
    "TrainResult",
    "batch_topk",
    "build_sae",
    "calibrate_threshold",
    "evaluate_sae",
    "geometric_median",
    "import_sae",
    "list_architectures",
    "list_importers",
    "load_sae",
    "loss_recovered",
    "measure",
    "register_architecture",
    "register_importer",
    "save_sae",
    "train_sae",
]
