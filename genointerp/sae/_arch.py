"""SAE architectures behind one interface, and the registry that names them.

Every architecture encodes ``x`` (batch, d_in) into feature activations
(batch, d_sae) and decodes them back:

    pre = (x - b_dec) @ W_enc + b_enc        (b_dec is subtracted only if apply_b_dec_to_input)
    f   = activation(pre)                     (TopK, BatchTopK, ReLU, JumpReLU)
    x^  = f @ W_dec + b_dec

Weights follow SAELens's names and shapes: ``W_enc`` (d_in, d_sae), ``W_dec``
(d_sae, d_in), ``b_enc`` (d_sae), ``b_dec`` (d_in), ``threshold`` (d_sae).  A tied
SAE holds one matrix, ``W_dec``, and encodes with its transpose.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .._registry import Registry
from ..errors import GenointerpError
from ._config import SAEConfig


class ForwardOutput(NamedTuple):
    """What :meth:`SAE.forward` returns (sparsify's ``ForwardOutput`` idea)."""

    x_hat: torch.Tensor  # (batch, d_in) reconstruction
    features: torch.Tensor  # (batch, d_sae) feature activations, zeros where inactive
    loss: torch.Tensor  # scalar: mse + sparsity + aux, what training minimises
    mse: torch.Tensor  # scalar: mean over the batch of |x - x^|^2
    sparsity: torch.Tensor  # scalar: the L1 or L0 penalty term (0 for TopK kinds)
    aux: torch.Tensor  # scalar: AuxK loss on dead latents (0 when none are dead)
    l0: torch.Tensor  # scalar: mean active features per row


class SAE(nn.Module):
    """Base class: parameters, encode/decode, decoder-norm upkeep, AuxK.

    Subclasses define :meth:`activation` (pre-activations -> features) and may
    override :meth:`sparsity_loss` and :meth:`forward`.
    """

    architecture: str = ""
    unit_norm_decoder_default: bool = True

    def __init__(self, config: SAEConfig, d_in: int) -> None:
        super().__init__()
        self.config = config
        self.d_in = d_in
        self.d_sae = config.d_sae or d_in * config.expansion_factor
        self.k = config.k
        if self.k > self.d_sae:
            raise GenointerpError(
                f"k={self.k} active features asked of an SAE with {self.d_sae}. "
                "Fix: lower k or raise expansion_factor"
            )
        self.tied = config.tied
        self.apply_b_dec_to_input = config.apply_b_dec_to_input
        self.unit_norm_decoder = (
            self.unit_norm_decoder_default
            if config.unit_norm_decoder is None
            else config.unit_norm_decoder
        )
        w_dec = torch.randn(self.d_sae, d_in)
        w_dec /= w_dec.norm(dim=1, keepdim=True)  # unit-norm rows, W_enc = W_dec.T at start
        self.W_dec = nn.Parameter(w_dec)
        if not self.tied:
            self.W_enc_param = nn.Parameter(w_dec.T.clone() * config.encoder_init_scale)
        self.b_enc = nn.Parameter(torch.zeros(self.d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    # -- weights ------------------------------------------------------------------------
    @property
    def W_enc(self) -> torch.Tensor:  # (d_in, d_sae)
        return self.W_dec.T if self.tied else self.W_enc_param

    def thresholds(self) -> torch.Tensor | None:
        """Per-feature inference threshold (d_sae), or None for architectures without one."""
        return None

    # -- the maps -----------------------------------------------------------------------
    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:  # (batch, d_in) -> (batch, d_sae)
        # (x - b_dec) @ W_enc + b_enc, written so that b_dec's gradient is a vector-matrix
        # product instead of a third (batch, d_in, d_sae) matmul in the backward pass.
        x = _as_input(x, self.W_dec)
        if not self.apply_b_dec_to_input:
            return torch.addmm(self.b_enc, x, self.W_enc)
        # The subtraction uses b_dec's value (no cancellation); the bias term, numerically
        # zero, carries b_dec's gradient.
        b_dec = self.b_dec
        bias = self.b_enc - (b_dec - b_dec.detach()) @ self.W_enc
        return torch.addmm(bias, x - b_dec.detach(), self.W_enc)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations (batch, d_sae) of inputs (batch, d_in); zeros where inactive."""
        return self.activation(self.pre_acts(x))

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Non-zero feature activations of inputs (batch, d_in): (rows, features, values)."""
        features = self.encode(x)
        rows, cols = features.nonzero(as_tuple=True)
        return rows, cols, features[rows, cols]

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Reconstruction (batch, d_in) from feature activations (batch, d_sae)."""
        return _as_input(features, self.W_dec) @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor, dead: torch.Tensor | None = None) -> ForwardOutput:
        """Encode, decode and compute the training loss.  ``dead``: (d_sae,) bool mask."""
        pre = self.pre_acts(x)
        features = self.activation(pre)
        x_hat = self.decode(features)
        return self._output(x, x_hat, features, pre, dead)

    def _output(self, x, x_hat, features, pre, dead) -> ForwardOutput:
        mse = (x_hat - x).pow(2).sum(-1).mean()
        sparsity = self.sparsity_loss(features, pre)
        aux = self.aux_loss(x, x_hat, pre, dead)
        l0 = (features > 0).float().sum(-1).mean()
        return ForwardOutput(x_hat, features, mse + sparsity + aux, mse, sparsity, aux, l0)

    def sparsity_loss(self, features: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        return features.new_zeros(())

    def aux_loss(self, x, x_hat, pre, dead) -> torch.Tensor:
        """AuxK (Gao et al. 2024): dead latents reconstruct the residual ``x - x^``.

        Normalised by the residual's variance so the coefficient does not depend on the
        data scale, and weighted down while few latents are dead.
        """
        coefficient = self.config.auxk_coefficient
        if dead is None or coefficient == 0 or not bool(dead.any()):
            return x.new_zeros(())
        n_dead = int(dead.sum())
        wanted = min(self.config.auxk_k or self.d_in // 2, self.d_sae)
        k_aux = min(wanted, n_dead)
        residual = (x - x_hat).detach()  # (batch, d_in)
        masked = pre.masked_fill(~dead, -math.inf)  # (batch, d_sae)
        values, indices = masked.topk(k_aux, dim=-1)  # each (batch, k_aux)
        recon = sparse_decode(indices, F.relu(values), self.W_dec)
        denominator = (residual - residual.mean(0)).pow(2).sum().clamp_min(1e-12)
        loss = (recon - residual).pow(2).sum() / denominator
        return coefficient * min(n_dead / wanted, 1.0) * loss

    # -- decoder norm upkeep (called by the trainer around the optimiser step) ----------
    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Drop the gradient component along each unit-norm decoder row."""
        if not self.unit_norm_decoder or self.W_dec.grad is None:
            return
        w, g = self.W_dec, self.W_dec.grad  # (d_sae, d_in)
        g -= (g * w).sum(-1, keepdim=True) * w

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        if self.unit_norm_decoder:
            self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8)

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        """Make an SAE trained on ``x * scale`` take raw ``x``: divide biases and thresholds.

        With every activation positively homogeneous, features become ``f / scale`` and the
        weights stay as they are, so tied decoders stay tied and unit norms stay unit.
        """
        self.b_enc /= scale
        self.b_dec /= scale
        self._scale_threshold(1.0 / scale)

    def _scale_threshold(self, factor: float) -> None:
        pass

    def set_threshold(self, threshold: torch.Tensor) -> None:
        raise GenointerpError(f"{self.architecture} SAEs have no threshold")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(d_in={self.d_in}, d_sae={self.d_sae}, k={self.k}, "
            f"tied={self.tied})"
        )


def _as_input(x, like: torch.Tensor) -> torch.Tensor:
    """Arrays and float16 store rows become tensors of the weights' dtype and device.

    Under autocast the weights' float32 is kept; autocast casts inside the matmuls.
    """
    return torch.as_tensor(x).to(device=like.device, dtype=like.dtype)


def sparse_decode(indices: torch.Tensor, values: torch.Tensor, w_dec: torch.Tensor) -> torch.Tensor:
    """``sum_j values[b, j] * w_dec[indices[b, j]]``: (batch, k) x (d_sae, d_in) -> (batch, d_in).

    Touches only the k selected rows, so it costs k/d_sae of the dense matmul.
    """
    batch, k = indices.shape
    offsets = torch.arange(0, batch * k, k, device=indices.device)
    return F.embedding_bag(
        indices.reshape(-1),
        w_dec,
        offsets,
        mode="sum",
        per_sample_weights=values.reshape(-1).to(w_dec.dtype),
    )


_ARCHITECTURES: Registry[type[SAE]] = Registry("SAE architecture")


def register_architecture(name: str) -> Callable[[type[SAE]], type[SAE]]:
    """Class decorator: make an SAE architecture available under ``name``."""

    def wrap(cls: type[SAE]) -> type[SAE]:
        cls.architecture = name
        return _ARCHITECTURES.register(name)(cls)

    return wrap


def list_architectures() -> list[str]:
    """Names :func:`build_sae` accepts."""
    return _ARCHITECTURES.names()


def build_sae(config: SAEConfig, d_in: int) -> SAE:
    """A freshly initialised SAE of ``config.architecture`` for inputs of width ``d_in``."""
    return _ARCHITECTURES.get(config.architecture)(config, d_in)


@register_architecture("topk")
class TopKSAE(SAE):
    """The k largest pre-activations of each row, through a ReLU (Gao et al. 2024)."""

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        values, indices = pre.topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, indices, F.relu(values))

    def encode_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        values, cols = self.pre_acts(x).topk(self.k, dim=-1, sorted=False)  # no dense output
        rows = torch.arange(len(values), device=values.device)[:, None].expand_as(cols)
        keep = values > 0
        return rows[keep], cols[keep], values[keep]

    def forward(self, x: torch.Tensor, dead: torch.Tensor | None = None) -> ForwardOutput:
        pre = self.pre_acts(x)  # (batch, d_sae)
        values, indices = pre.topk(self.k, dim=-1, sorted=False)  # (batch, k)
        values = F.relu(values)
        x_hat = sparse_decode(indices, values, self.W_dec) + self.b_dec
        features = torch.zeros_like(pre).scatter_(-1, indices, values.detach())
        return self._output(x, x_hat, features, pre, dead)


@register_architecture("batchtopk")
class BatchTopKSAE(SAE):
    """The ``k * batch`` largest activations of the whole batch (Bussmann et al. 2024).

    Training keeps a running estimate of the smallest selected activation; in
    inference (``eval()``) a feature fires when its activation exceeds that threshold,
    so a position's features no longer depend on the rest of its batch.  An SAE with
    no threshold yet (all zeros, e.g. an imported one) keeps batch top-k in inference.
    """

    def __init__(self, config: SAEConfig, d_in: int) -> None:
        super().__init__(config, d_in)
        self.register_buffer("threshold", torch.zeros(self.d_sae))
        self.register_buffer("threshold_updates", torch.zeros((), dtype=torch.long))

    def thresholds(self) -> torch.Tensor:
        return self.threshold

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        if not self.training and bool((self.threshold > 0).any()):
            return pre * (pre > self.threshold)
        return batch_topk(F.relu(pre), self.k)

    def forward(self, x: torch.Tensor, dead: torch.Tensor | None = None) -> ForwardOutput:
        if not self.training:
            return super().forward(x, dead)
        pre = self.pre_acts(x)
        features = batch_topk(F.relu(pre), self.k)
        self._update_threshold(features)
        x_hat = self.decode(features)
        return self._output(x, x_hat, features, pre, dead)

    @torch.no_grad()
    def _update_threshold(self, features: torch.Tensor) -> None:
        active = features[features > 0]
        # (sum, count) of this batch's smallest selected activation; every process joins the
        # reduction even when it selected nothing, so none waits for the others forever.
        found = torch.zeros(2, device=features.device)
        if active.numel():
            found[0], found[1] = active.min().float(), 1.0
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(found)
        if found[1] == 0:
            return
        smallest = found[0] / found[1]
        n = int(self.threshold_updates)
        momentum = max(1.0 / (n + 1), self.config.threshold_momentum)
        self.threshold.mul_(1 - momentum).add_(momentum * smallest)
        self.threshold_updates += 1

    def _scale_threshold(self, factor: float) -> None:
        self.threshold *= factor

    def set_threshold(self, threshold: torch.Tensor) -> None:
        with torch.no_grad():
            self.threshold.copy_(threshold)


def batch_topk(acts: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k * batch`` largest entries of ``acts`` (batch, d_sae); zero the rest."""
    flat = acts.flatten()
    n = min(k * acts.shape[0], flat.numel())
    values, indices = flat.topk(n)
    return torch.zeros_like(flat).scatter_(0, indices, values).view_as(acts)


@register_architecture("relu")
class ReLUSAE(SAE):
    """ReLU features with an L1 penalty weighted by decoder row norms (Anthropic, 2024)."""

    unit_norm_decoder_default = False

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return F.relu(pre)

    def sparsity_loss(self, features: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        norms = self.W_dec.norm(dim=1)  # (d_sae,)
        return self.config.l1_coefficient * (features * norms).sum(-1).mean()


class _JumpReLU(torch.autograd.Function):
    """``pre * H(pre - theta)``; pseudo-derivative for theta through a rectangle kernel."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return pre * (pre > theta)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        window = ((pre - theta).abs() < eps / 2).to(grad.dtype)
        grad_pre = grad * (pre > theta)
        grad_theta = (-(theta / eps) * window * grad).sum(0)
        return grad_pre, grad_theta, None


class _Step(torch.autograd.Function):
    """``H(pre - theta)``; gradient reaches theta only, through a rectangle kernel."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        window = ((pre - theta).abs() < eps / 2).to(grad.dtype)
        return None, (-(1.0 / eps) * window * grad).sum(0), None


@register_architecture("jumprelu")
class JumpReLUSAE(SAE):
    """JumpReLU features with an L0 penalty trained by straight-through estimators
    (Rajamanoharan et al. 2024).  ``threshold = exp(log_threshold)``, per feature."""

    def __init__(self, config: SAEConfig, d_in: int) -> None:
        super().__init__(config, d_in)
        start = math.log(config.jumprelu_init_threshold)
        self.log_threshold = nn.Parameter(torch.full((self.d_sae,), start))
        # Thresholds read from a checkpoint, kept as written: exp(log(t)) may differ from t in
        # the last bit, and a loaded SAE must encode exactly as the saved one did.
        self.register_buffer("loaded_threshold", None, persistent=False)

    def thresholds(self) -> torch.Tensor:
        if self.loaded_threshold is not None:
            return self.loaded_threshold
        return self.log_threshold.exp()

    def set_threshold(self, threshold: torch.Tensor) -> None:
        with torch.no_grad():
            self.log_threshold.copy_(threshold.clamp_min(1e-30).log())
        self.loaded_threshold = threshold.to(self.log_threshold.device).clone()

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        # float32 even under bf16 autocast: bf16's spacing (0.004 near 0.5) is wider than the
        # estimator's bandwidth, which would leave the thresholds without gradient.
        pre, theta = pre.float(), self.thresholds()
        if not torch.is_grad_enabled():
            return pre * (pre > theta)
        return _JumpReLU.apply(pre, theta, self.config.jumprelu_bandwidth)

    def sparsity_loss(self, features: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        steps = _Step.apply(pre.float(), self.thresholds(), self.config.jumprelu_bandwidth)
        return self.config.l0_coefficient * steps.sum(-1).mean()

    def _scale_threshold(self, factor: float) -> None:
        self.set_threshold(self.thresholds() * factor)


__all__ = [
    "SAE",
    "BatchTopKSAE",
    "ForwardOutput",
    "JumpReLUSAE",
    "ReLUSAE",
    "TopKSAE",
    "batch_topk",
    "build_sae",
    "calibrate_threshold",
    "list_architectures",
    "register_architecture",
    "sparse_decode",
]


@torch.no_grad()
def calibrate_threshold(sae: BatchTopKSAE, rows, batch_size: int = 4096) -> float:
    """Give a BatchTopK SAE its inference threshold from data, as its training would have.

    Runs batch top-k over ``rows`` (n, d_in) in batches of ``batch_size`` and sets every
    feature's threshold to the mean, over batches, of the smallest selected activation
    (Bussmann et al. 2024).  Then ``eval()`` encodes each position on its own, with about
    ``k`` active features on data like ``rows``.  Returns the threshold.
    """
    if not isinstance(sae, BatchTopKSAE):
        raise GenointerpError(f"only batchtopk SAEs have a batch threshold, not {sae.architecture}")
    smallest = []
    for start in range(0, len(rows) - batch_size + 1, batch_size):
        pre = sae.pre_acts(rows[start : start + batch_size])
        selected = batch_topk(F.relu(pre), sae.k)
        active = selected[selected > 0]
        if active.numel():
            smallest.append(float(active.min()))
    if not smallest:
        raise GenointerpError(
            f"calibrating needs at least one full batch of {batch_size} rows with activity. "
            "Fix: pass more rows"
        )
    threshold = sum(smallest) / len(smallest)
    sae.set_threshold(torch.full_like(sae.threshold, threshold))
    return threshold
