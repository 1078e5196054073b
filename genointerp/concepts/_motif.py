"""Motif concepts: a sequence motif (IUPAC consensus or PWM) scanned on both strands."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MotifSpec:
    """A known sequence motif, scanned on both strands of the genome."""

    consensus: str = ""
    """IUPAC consensus, e.g. ``GCTGGTGG`` (Chi); give this or ``pwm``."""
    pwm: list[list[float]] = field(default_factory=list)
    """Position weight matrix, one row per position, columns A, C, G, T (counts or
    probabilities); give this or ``consensus``."""
    threshold: float = 0.0
    """For a PWM: the score a site must reach (see the scanner's docs)."""
    max_mismatches: int = 0
    """For a consensus: mismatches allowed."""
    within: str = ""
    """Name of a region concept of the same catalog; only sites inside its elements (on the
    same strand when both are stranded) are kept."""
    source: str = ""
    """Where the motif comes from (citation)."""

    def __post_init__(self) -> None:
        if bool(self.consensus) == bool(self.pwm):
            raise ValueError("a motif needs either 'consensus' or 'pwm' (not both)")
