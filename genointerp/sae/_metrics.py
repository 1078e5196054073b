"""SAE quality: reconstruction, sparsity, feature density and the DNA model's loss.

- FVU = sum |x - x^|^2 / sum |x - mean(x)|^2, accumulated in float64 over any number
  of batches (the mean is the data's own, per dimension).
- L0: mean active features per position.
- Dead fraction: features that never fire in the evaluated positions.
  Dense fraction: features that fire on more than 10% of them.
- Loss recovered: the DNA model's loss (bits per nucleotide) with the SAE's
  reconstruction spliced in at its layer, between the clean model (1) and the layer
  zeroed out (0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

DENSE_FREQUENCY = 0.1


class RunningMetrics:
    """Accumulates reconstruction and firing statistics batch by batch, in float64."""

    def __init__(self, d_in: int, d_sae: int) -> None:
        self.n = 0
        self.sse = 0.0
        self.sum_x = np.zeros(d_in)
        self.sum_x2 = np.zeros(d_in)
        self.active = 0
        self.fires = np.zeros(d_sae, dtype=np.int64)

    def update(self, x: torch.Tensor, x_hat: torch.Tensor, features: torch.Tensor) -> None:
        """Add a batch: inputs and reconstructions (batch, d_in), features (batch, d_sae)."""
        x64, err = x.detach().double(), (x_hat.detach().double() - x.detach().double())
        self.n += x.shape[0]
        self.sse += float(err.pow(2).sum())
        self.sum_x += x64.sum(0).cpu().numpy()
        self.sum_x2 += x64.pow(2).sum(0).cpu().numpy()
        firing = features.detach() > 0
        self.active += int(firing.sum())
        self.fires += firing.sum(0).cpu().numpy()

    @property
    def fvu(self) -> float:
        total = float((self.sum_x2 - self.sum_x**2 / max(self.n, 1)).sum())
        return self.sse / total if total > 0 else math.nan

    @property
    def l0(self) -> float:
        return self.active / max(self.n, 1)

    @property
    def frequency(self) -> np.ndarray:
        """Fraction of positions each feature fires on: (d_sae,)."""
        return self.fires / max(self.n, 1)


@dataclass
class LossRecovered:
    """The DNA model's held-out loss with the SAE spliced in, in bits per nucleotide."""

    clean: float
    """The model as it is."""
    spliced: float
    """The layer's output replaced by the SAE's reconstruction."""
    zero: float
    """The layer's output replaced by zeros."""
    positions: int
    """Scored positions."""

    @property
    def fraction(self) -> float:
        """(zero - spliced) / (zero - clean): 1 = as good as the clean model."""
        gap = self.zero - self.clean
        return (self.zero - self.spliced) / gap if gap > 0 else math.nan


@dataclass
class SAEMetrics:
    """What ``genointerp sae eval`` reports."""

    fvu: float
    l0: float
    dead_fraction: float
    dense_fraction: float
    positions: int
    frequency: np.ndarray = field(repr=False)
    """(d_sae,) fraction of positions each feature fires on."""
    loss: LossRecovered | None = None

    def density_histogram(self, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Counts of live features over log10(frequency) bins, and the bin edges."""
        alive = self.frequency[self.frequency > 0]
        low = math.log10(1 / max(self.positions, 1))
        return np.histogram(np.log10(alive), bins=bins, range=(low, 0.0))

    def summary(self) -> dict:
        out = {
            "fvu": self.fvu,
            "l0": self.l0,
            "dead_fraction": self.dead_fraction,
            "dense_fraction": self.dense_fraction,
            "positions": self.positions,
        }
        if self.loss is not None:
            out |= {
                "bits_clean": self.loss.clean,
                "bits_spliced": self.loss.spliced,
                "bits_zero_ablated": self.loss.zero,
                "loss_recovered": self.loss.fraction,
                "loss_positions": self.loss.positions,
            }
        return out


def finish(running: RunningMetrics, loss: LossRecovered | None = None) -> SAEMetrics:
    frequency = running.frequency
    return SAEMetrics(
        fvu=running.fvu,
        l0=running.l0,
        dead_fraction=float((running.fires == 0).mean()),
        dense_fraction=float((frequency > DENSE_FREQUENCY).mean()),
        positions=running.n,
        frequency=frequency,
        loss=loss,
    )


@torch.no_grad()
def measure(sae, rows: np.ndarray | torch.Tensor, batch_size: int = 8192, scale: float = 1.0):
    """Metrics of ``sae`` on ``rows`` (n, d_in), scaled by ``scale`` first."""
    running = RunningMetrics(sae.d_in, sae.d_sae)
    device = sae.b_dec.device
    for start in range(0, len(rows), batch_size):
        x = torch.as_tensor(rows[start : start + batch_size], dtype=torch.float32)
        x = x.to(device) * scale
        features = sae.encode(x)
        running.update(x, sae.decode(features), features)
    return finish(running)


__all__ = ["DENSE_FREQUENCY", "LossRecovered", "RunningMetrics", "SAEMetrics", "finish", "measure"]
