"""Settings of SAE training: one dataclass per component, one docstring per field.

The same objects drive the Python API, the YAML file of ``genointerp sae train
--config`` (keys are the field names, nested by component) and the record saved
in ``cfg.json`` beside the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from .._config import from_dict, load_yaml


@dataclass
class SAEConfig:
    """The autoencoder itself."""

    architecture: str = "topk"
    """One of ``topk``, ``batchtopk``, ``relu`` (L1 penalty weighted by decoder norms) or
    ``jumprelu`` (L0 penalty); see :func:`genointerp.sae.list_architectures`."""
    expansion_factor: int = 16
    """Features per input dimension, used when ``d_sae`` is 0."""
    d_sae: int = 0
    """Number of features; 0 means ``expansion_factor * d_in``."""
    k: int = 32
    """Active features per position for ``topk`` (per row) and ``batchtopk`` (on average)."""
    tied: bool = False
    """Encode with the transpose of the decoder (one matrix, as Goodfire's Evo 2 SAE)."""
    encoder_init_scale: float = 0.1
    """Untied SAEs start with ``W_enc = encoder_init_scale * W_dec.T`` (unit-norm rows)."""
    apply_b_dec_to_input: bool = True
    """Subtract ``b_dec`` from the input before encoding."""
    unit_norm_decoder: bool | None = None
    """Keep decoder rows at unit norm; ``None`` picks the architecture's default
    (on for all but ``relu``, whose L1 penalty already weighs decoder norms)."""
    l1_coefficient: float = 0.5
    """``relu`` only: weight of the decoder-norm-weighted L1 penalty."""
    l0_coefficient: float = 0.01
    """``jumprelu`` only: weight of the L0 penalty (mean active features per position)."""
    jumprelu_init_threshold: float = 0.03
    """``jumprelu`` only: starting threshold of every feature (normalised input units)."""
    jumprelu_bandwidth: float = 0.02
    """``jumprelu`` only: width of the rectangle kernel of the straight-through estimator."""
    threshold_momentum: float = 0.01
    """``batchtopk`` only: update rate of the running inference threshold."""
    auxk_coefficient: float = 1 / 32
    """Weight of the AuxK loss that lets dead latents model the residual (0 turns it off)."""
    auxk_k: int = 0
    """Dead latents used by AuxK per position; 0 means ``d_in // 2``."""

    def __post_init__(self) -> None:
        from ._arch import list_architectures  # the registry, which may have grown

        if self.architecture not in list_architectures():
            raise ValueError(
                f"architecture {self.architecture!r} is not one of "
                f"{', '.join(list_architectures())}"
            )
        for name in ("expansion_factor", "k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.d_sae < 0:
            raise ValueError(
                f"d_sae must be 0 (use expansion_factor) or positive, got {self.d_sae}"
            )
        if self.d_sae and self.k > self.d_sae:
            raise ValueError(f"k ({self.k}) cannot exceed d_sae ({self.d_sae})")
        if self.jumprelu_init_threshold <= 0 or self.jumprelu_bandwidth <= 0:
            raise ValueError("jumprelu_init_threshold and jumprelu_bandwidth must be positive")


@dataclass
class StreamConfig:
    """``data.source: model``: the model's activations go straight into the shuffle buffer."""

    genomes: list[str] = field(default_factory=list)
    """Genome files (FASTA or GenBank) or data-set names, mixed in proportion to their
    positions; each holds out its own ``eval_fraction`` of windows."""
    model: str = "tiny"
    """Model adapter (:func:`genointerp.models.load_model`): ``tiny``, ``hf`` or ``evo2``."""
    weights: str = ""
    """Weights: a local path, a hub id or an Evo 2 model name (empty: the adapter's default)."""
    window: int = 0
    """Nucleotides per forward pass (0: the model's default, as ``genointerp extract``)."""
    overlap: int = -1
    """Nucleotides shared by consecutive windows (-1: the model's default)."""
    min_context: int = -1
    """Least left context of a trained position (-1: the model's default)."""
    strands: list[str] = field(default_factory=lambda: ["+", "-"])
    """Strands read: ``+``, ``-`` or both."""
    windows_per_forward: int = 0
    """Windows per forward pass (0: the model's default, 1 on CPU and 8 on a GPU)."""
    model_dtype: str = ""
    """Compute dtype of the model, e.g. ``bfloat16`` (empty: the adapter's default)."""

    def __post_init__(self) -> None:
        if self.window < 0 or self.overlap < -1 or self.min_context < -1:
            raise ValueError("window must be >= 0 and overlap, min_context >= -1 (-1: default)")
        if not self.strands or set(self.strands) - {"+", "-"}:
            raise ValueError(f"strands must be '+' and/or '-', got {self.strands}")
        if self.windows_per_forward < 0:
            raise ValueError(f"windows_per_forward must be >= 0, got {self.windows_per_forward}")


@dataclass
class DataConfig:
    """Where training activations come from and how they are batched."""

    source: Literal["store", "model"] = "store"
    """``store``: read ``store`` (and ``stores``); ``model``: run the model of ``stream`` over
    its genomes while training, with nothing written to disk (see ``stream``)."""
    store: str = ""
    """Activation store written by ``genointerp extract``."""
    stores: list[str] = field(default_factory=list)
    """More stores, same model, layer and d_model (e.g. one per genome), mixed into training
    in proportion to their positions; each holds out its own ``eval_fraction`` of chunks. A
    store of another model, layer or width is refused."""
    layer: str = ""
    """Layer of the store to train on; empty means the store's only (or first) layer.
    ``<layer>+rc`` trains on the joint strand view (own strand, then opposite strand:
    width ``2 * d_model``) of a store with both strands."""
    batch_size: int = 4096
    """Positions per optimiser step (over all processes)."""
    buffer_batches: int = 32
    """Shuffle buffer, in batches: this many batches' worth of rows, read from random storage
    chunks across contigs and strands, are shuffled together."""
    eval_fraction: float = 0.02
    """Fraction of storage chunks held out from training and used for evaluation."""
    eval_tokens: int = 65536
    """Held-out positions scored at each periodic evaluation."""
    normalise: bool = True
    """Scale inputs to unit mean squared norm while training; the scale is folded into the
    saved weights, so the saved SAE takes raw activations."""
    b_dec_init: Literal["geometric_median", "mean", "zeros"] = "geometric_median"
    """Starting decoder bias, computed on the first 32,768 rows of the training stream."""
    stream: StreamConfig = field(default_factory=StreamConfig)
    """``source: model`` only: the genomes, the model and its windows."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.buffer_batches < 1:
            raise ValueError("batch_size and buffer_batches must be at least 1")
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.source == "model" and not self.stream.genomes:
            raise ValueError("source 'model' needs stream.genomes (genome files or data sets)")
        if self.source == "model" and (self.store or self.stores):
            raise ValueError("source 'model' reads no store: leave store and stores empty")


@dataclass
class OptimConfig:
    """Adam with linear warm-up and a linear decay to zero at the end."""

    lr: float = 4e-4
    """Peak learning rate."""
    beta1: float = 0.9
    """Adam beta1."""
    beta2: float = 0.999
    """Adam beta2."""
    warmup_steps: int = 100
    """Linear warm-up from 0 to ``lr`` over these steps."""
    decay_fraction: float = 0.2
    """The last fraction of training decays the learning rate linearly to 0."""
    grad_clip: float = 1.0
    """Clip the gradient norm to this value (0 turns clipping off)."""

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.decay_fraction <= 1:
            raise ValueError(f"decay_fraction must be in [0, 1], got {self.decay_fraction}")


@dataclass
class SAETrainConfig:
    """Settings of ``genointerp sae train`` (YAML: ``sae:``, ``data:``, ``optim:`` and the
    top-level keys below)."""

    sae: SAEConfig = field(default_factory=SAEConfig)
    """The autoencoder."""
    data: DataConfig = field(default_factory=DataConfig)
    """Training data."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser and schedule."""
    tokens: int = 10_000_000
    """Training positions in all (steps = tokens // batch_size)."""
    seed: int = 0
    """Seed of the initial weights and of the batches."""
    dead_tokens: int = 1_000_000
    """A feature that has not fired for this many training positions counts as dead (and is
    trained by AuxK)."""
    log_every: int = 50
    """Steps between lines of ``train_log.tsv``."""
    eval_every: int = 500
    """Steps between held-out evaluations (FVU, L0) in the log."""
    checkpoint_every: int = 200
    """Steps between checkpoints; a killed job resumes from the last one."""
    loss_windows: int = 0
    """Every ``eval_every`` steps, also measure loss recovered: the DNA model's bits per
    nucleotide with the SAE spliced in, on this many random 4,096-nt genome windows (0: off;
    needs the store's model and genome, see ``model_weights`` and ``genome``)."""
    model_weights: str = ""
    """Weights of the store's model for ``loss_windows`` (empty: the adapter's default, e.g.
    the built-in model's shipped weights); its model id must match the store's."""
    genome: str = ""
    """Genome file or data-set name for ``loss_windows`` (empty: the file the store was
    extracted from); its checksum must match the store's."""
    device: str = "auto"
    """``auto`` (CUDA when there is one), ``cpu`` or ``cuda[:i]``; under torchrun each process
    takes the GPU of its local rank."""
    autocast: bool = True
    """On CUDA, compute in bfloat16 autocast (weights and optimiser stay float32)."""

    def __post_init__(self) -> None:
        for name in ("log_every", "eval_every", "checkpoint_every", "dead_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1, got {getattr(self, name)} "
                    "(to turn it off, make it larger than the number of steps)"
                )
        if self.tokens < self.data.batch_size:
            raise ValueError(
                f"tokens ({self.tokens}) must be at least one batch ({self.data.batch_size})"
            )

    @property
    def steps(self) -> int:
        return self.tokens // self.data.batch_size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str | Path = "<dict>") -> SAETrainConfig:
        return from_dict(cls, data, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SAETrainConfig:
        return from_dict(cls, load_yaml(path), path)


__all__ = ["DataConfig", "OptimConfig", "SAEConfig", "SAETrainConfig", "StreamConfig"]
