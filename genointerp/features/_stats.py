"""Per-feature statistics gathered while encoding: density, max, quantiles, strand and
codon-phase profile, and how activations are laid out along the genome (shape class)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Quantiles of non-zero activations come from a histogram over log-spaced bins:
# 32 bins per decade from 1e-4 to 1e4, so a quantile is known to within 7.5%.
LOG_LO, LOG_HI, BINS_PER_DECADE = -4.0, 4.0, 32
N_BINS = int((LOG_HI - LOG_LO) * BINS_PER_DECADE)
QUANTILES = (0.5, 0.9, 0.99)
SHAPES = ("dead", "point", "motif", "element", "periodic", "broad")

_ARRAYS = ("count_plus", "count_minus", "total", "max", "hist", "lag1", "lag3", "phase")


@dataclass
class FeatureStats:
    """Running per-feature sums over every position and strand (one pass, mergeable).

    ``count_plus``/``count_minus``: active positions per strand; ``total``: summed
    activation; ``max``; ``hist``: (d_sae, N_BINS) log-binned non-zero activations;
    ``lag1``/``lag3``: active positions whose neighbour 1 or 3 nt downstream (same
    contig and strand) is active too; ``phase``: (d_sae, 3) active positions inside
    coding sequence of the same strand by codon position; ``positions``: all positions seen.
    """

    count_plus: np.ndarray
    count_minus: np.ndarray
    total: np.ndarray
    max: np.ndarray
    hist: np.ndarray
    lag1: np.ndarray
    lag3: np.ndarray
    phase: np.ndarray
    positions: int = 0
    coding_positions: int = 0

    @classmethod
    def zeros(cls, d_sae: int) -> FeatureStats:
        z = np.zeros(d_sae, dtype=np.int64)
        return cls(
            z.copy(),
            z.copy(),
            np.zeros(d_sae),
            np.zeros(d_sae, dtype=np.float32),
            np.zeros((d_sae, N_BINS), dtype=np.int64),
            z.copy(),
            z.copy(),
            np.zeros((d_sae, 3), dtype=np.int64),
        )

    @property
    def d_sae(self) -> int:
        return len(self.max)

    def add(self, other: FeatureStats) -> None:
        for name in _ARRAYS:
            a = getattr(self, name)
            if name == "max":
                np.maximum(a, other.max, out=a)
            else:
                a += getattr(other, name)
        self.positions += other.positions
        self.coding_positions += other.coding_positions

    # -- storage ----------------------------------------------------------------
    def to_group(self, group) -> None:
        for name in _ARRAYS:
            if name in group:
                del group[name]
            group[name] = getattr(self, name)
        group.attrs["positions"] = self.positions
        group.attrs["coding_positions"] = self.coding_positions

    @classmethod
    def from_group(cls, group) -> FeatureStats:
        arrays = {name: group[name][()] for name in _ARRAYS}
        return cls(
            **arrays,
            positions=int(group.attrs["positions"]),
            coding_positions=int(group.attrs["coding_positions"]),
        )

    # -- summaries --------------------------------------------------------------
    @property
    def count(self) -> np.ndarray:
        return self.count_plus + self.count_minus

    def quantiles(self, qs=QUANTILES) -> np.ndarray:
        """(d_sae, len(qs)) quantiles of non-zero activations (upper bin edges), NaN if dead."""
        edges = 10.0 ** (LOG_LO + np.arange(1, N_BINS + 1) / BINS_PER_DECADE)
        cum = np.cumsum(self.hist, axis=1)
        n = cum[:, -1:]
        out = np.full((self.d_sae, len(qs)), np.nan)
        alive = n[:, 0] > 0
        for j, q in enumerate(qs):
            idx = (cum[alive] < q * n[alive]).sum(axis=1)
            out[alive, j] = edges[np.minimum(idx, N_BINS - 1)]
        return np.minimum(out, self.max[:, None])

    def table(self) -> pd.DataFrame:
        """One row per feature: density, max, quantiles, strand bias, phase profile, shape."""
        count = self.count
        quantiles = self.quantiles()
        with np.errstate(invalid="ignore", divide="ignore"):
            runs = count - self.lag1  # an active run ends where the next position is off
            phase_total = self.phase.sum(axis=1, keepdims=True)
            phase = self.phase / phase_total
            frame = {
                "density": count / max(self.positions, 1),
                "max": self.max,
                "mean_active": self.total / count,
                **{f"q{int(q * 100)}": quantiles[:, j] for j, q in enumerate(QUANTILES)},
                "strand_bias": (self.count_plus - self.count_minus) / count,
                "mean_run": count / runs,
                "lag1": self.lag1 / count,
                "lag3": self.lag3 / count,
                "phase0": phase[:, 0],
                "phase1": phase[:, 1],
                "phase2": phase[:, 2],
                "phase_max": phase.max(axis=1),
                "coding_fraction": phase_total[:, 0] / count,
            }
        table = pd.DataFrame(frame)
        table.insert(0, "feature", np.arange(self.d_sae))
        table["shape"] = shape_class(table)
        return table


def shape_class(table: pd.DataFrame) -> np.ndarray:
    """How a feature's activity is laid out along the genome.

    * ``dead``: never active;
    * ``periodic``: active every third nucleotide (a position 3 nt on is active for at
      least half of the active positions, and at least twice as often as the next one);
    * otherwise by the mean length of runs of consecutive active positions:
      ``point`` (< 3 nt), ``motif`` (3-30 nt), ``element`` (30-1,000 nt), ``broad`` (longer).
    """
    run = table["mean_run"].to_numpy()
    shape = np.select(
        [run < 3, run < 30, run < 1000], ["point", "motif", "element"], default="broad"
    ).astype(object)
    periodic = (table["lag3"] >= 0.5) & (table["lag3"] >= 2 * table["lag1"])
    shape[periodic.to_numpy()] = "periodic"
    shape[~(table["density"] > 0).to_numpy()] = "dead"
    return shape


def log_bins(values: np.ndarray) -> np.ndarray:
    """Histogram bin of non-zero activations (values below/above the range clip)."""
    with np.errstate(divide="ignore"):
        b = np.floor((np.log10(values) - LOG_LO) * BINS_PER_DECADE)
    return np.clip(b, 0, N_BINS - 1).astype(np.int64)
