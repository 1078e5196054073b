"""Validation and test splits: alternating genome blocks, or a whole genome."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockSplit:
    """Alternate blocks of ``block`` nt on every contig: validation, test, validation, ...

    Positions are assigned by their block; an element belongs to the block of its
    midpoint (its hits may come from either side of a block edge).
    """

    block: int = 100_000
    names: tuple[str, ...] = ("validation", "test")

    def ids(self, contig: str, length: int) -> np.ndarray:
        """Split index (into ``names``) of every position of the contig: uint8."""
        return ((np.arange(length) // self.block) % len(self.names)).astype(np.uint8)

    def of(self, contig: str, positions: np.ndarray) -> np.ndarray:
        return ((np.asarray(positions) // self.block) % len(self.names)).astype(np.uint8)


@dataclass(frozen=True)
class WholeSplit:
    """Every position of the genome in one split (e.g. ``test`` on an unseen organism)."""

    name: str = "test"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def ids(self, contig: str, length: int) -> np.ndarray:
        return np.zeros(length, dtype=np.uint8)

    def of(self, contig: str, positions: np.ndarray) -> np.ndarray:
        return np.zeros(len(np.asarray(positions)), dtype=np.uint8)
