"""Cut contigs into model windows so every position is kept exactly once, with context.

A window is what one forward pass reads; the *kept* part of it is what gets
stored.  Consecutive windows overlap by ``overlap`` nucleotides.  A causal model
keeps, from each window, the positions after the previous window's end, so
every kept position has at least ``overlap`` nucleotides of left context; a
bidirectional (masked) model splits each overlap in the middle, leaving
``overlap // 2`` on each side.  The last window is aligned to the contig's end,
so all windows of a long contig have the same length.  Only true contig starts
(and ends, for masked models) have less context — unless the contig is circular,
where the windows wrap round the origin and every position gets full context.

Coordinates here are on the strand being read: for '-', position 0 is the last
base of the contig (see :func:`to_genomic`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GenointerpError

# One row per window; coordinates are on the strand read, 0-based half-open.
WINDOW_DTYPE = np.dtype(
    [
        ("contig", np.int32),  # index into the genome's contig list
        ("strand", np.int8),  # 0 = '+', 1 = '-'
        ("start", np.int64),  # first nucleotide read; negative = wrapped round the origin
        ("length", np.int64),  # nucleotides read
        ("keep_start", np.int64),  # first position stored
        ("keep_end", np.int64),  # one past the last position stored
        ("batch", np.int64),  # forward batch this window belongs to
    ]
)
STRANDS = ("+", "-")


@dataclass(frozen=True)
class WindowSpec:
    """How contigs are cut into windows."""

    window: int = 4096
    """Nucleotides per forward pass."""
    overlap: int = 1024
    """Nucleotides shared by consecutive windows (context for the kept positions)."""
    min_context: int = 1024
    """Least context a stored position may have (except at true contig ends)."""
    causal: bool = True
    """Causal models need context on the left only; masked models on both sides."""

    def __post_init__(self) -> None:
        if self.window < 1 or self.overlap < 0 or self.min_context < 0:
            raise GenointerpError(
                f"window={self.window}, overlap={self.overlap}, min_context={self.min_context}: "
                "window must be >= 1 and the others >= 0. Fix: pass positive numbers"
            )
        if self.overlap >= self.window:
            raise GenointerpError(
                f"overlap ({self.overlap}) must be smaller than the window ({self.window}). "
                "Fix: use a larger window or a smaller overlap"
            )
        context = self.overlap if self.causal else self.overlap // 2
        if context < self.min_context:
            need = self.min_context if self.causal else 2 * self.min_context
            raise GenointerpError(
                f"overlap {self.overlap} gives only {context} nucleotides of context but "
                f"min_context is {self.min_context}. Fix: set overlap >= {need}"
                + ("" if self.causal else " (a masked model needs context on both sides)")
            )

    @property
    def margins(self) -> tuple[int, int]:
        """Wrap-round margins (left, right) added to a circular contig."""
        return self.overlap, 0 if self.causal else self.overlap


def contig_windows(length: int, spec: WindowSpec, circular: bool = False) -> np.ndarray:
    """Windows over one strand of a contig: rows of (start, length, keep_start, keep_end)."""
    left, right = spec.margins if circular else (0, 0)
    extended = length + left + right
    if extended <= spec.window:
        starts = np.array([0])
    else:
        stride = spec.window - spec.overlap
        starts = np.arange(0, extended - spec.window, stride)
        starts = np.append(starts, extended - spec.window)
    ends = np.minimum(starts + spec.window, extended)
    # Where one window's kept part ends and the next one's begins (never in a wrap margin).
    bounds = ends[:-1] if spec.causal else (starts[1:] + ends[:-1]) // 2
    bounds = np.clip(bounds, left, extended - right)
    keep_start = np.concatenate([[left], bounds]) - left
    keep_end = np.concatenate([bounds, [extended - right]]) - left
    out = np.stack([starts - left, ends - starts, keep_start, keep_end], axis=1)
    return out[keep_end > keep_start]


def plan_windows(
    lengths: list[int],
    spec: WindowSpec,
    *,
    circular: list[bool] | None = None,
    strands: tuple[str, ...] = STRANDS,
    batch_size: int = 8,
) -> np.ndarray:
    """Every window of every contig and strand, grouped into forward batches.

    Windows of equal length share a batch; the plan depends only on its inputs, so
    a resumed or sharded job recomputes the very same batches.
    """
    for strand in strands:
        if strand not in STRANDS:
            raise GenointerpError(f"unknown strand {strand!r}. Fix: use '+' and/or '-'")
    circular = circular or [False] * len(lengths)
    rows = []
    for contig, (length, is_circular) in enumerate(zip(lengths, circular, strict=True)):
        if length == 0:
            continue
        windows = contig_windows(length, spec, is_circular)
        for strand in strands:
            block = np.zeros(len(windows), dtype=WINDOW_DTYPE)
            block["contig"] = contig
            block["strand"] = STRANDS.index(strand)
            for i, name in enumerate(("start", "length", "keep_start", "keep_end")):
                block[name] = windows[:, i]
            rows.append(block)
    plan = np.concatenate(rows) if rows else np.zeros(0, dtype=WINDOW_DTYPE)
    # Longest windows first, then genome order; batches never mix lengths.
    order = np.lexsort((plan["start"], plan["strand"], plan["contig"], -plan["length"]))
    plan = plan[order]
    batch = 0
    for length in np.unique(plan["length"])[::-1]:
        members = np.flatnonzero(plan["length"] == length)
        plan["batch"][members] = batch + np.arange(len(members)) // batch_size
        batch = int(plan["batch"][members].max()) + 1
    return plan


def window_codes(strand_codes: np.ndarray, start: int, length: int) -> np.ndarray:
    """Codes of a window over one strand, wrapping round the origin when ``start`` < 0."""
    n = len(strand_codes)
    end = start + length
    if start >= 0 and end <= n:
        return strand_codes[start:end]
    return strand_codes[np.arange(start, end) % n]


def to_genomic(strand: int, length: int, start: int, end: int) -> tuple[int, int]:
    """Strand coordinates ``[start, end)`` -> genomic ``[start, end)`` (reversed on '-')."""
    return (start, end) if strand == 0 else (length - end, length - start)
