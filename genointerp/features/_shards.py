"""Which rows shard ``(i, n)`` of an encoding covers.

The (contig, strand) groups are laid end to end in file order (contigs in the store's
order, then strands); shard ``i`` covers the i-th of ``n`` equal stretches of that line,
each cut moved to the nearest multiple of ``batch_rows`` from its group's start, so a
shard encodes exactly the batches an unsharded run would (same rows per SAE call).
"""

from __future__ import annotations

from ..acts import shard_path

__all__ = ["shard_path", "shard_rows"]


def shard_rows(
    groups: list[tuple[str, str, int]], shard: tuple[int, int] | None, batch_rows: int
) -> list[tuple[str, str, int, int]]:
    """``(contig, strand, start, end)`` runs of rows of shard ``(i, n)`` (all rows if None).

    ``groups``: ``(contig, strand, length)`` in file order.  A shard holds at most one
    run per group; a shard may be empty when there are more shards than batches.

    Examples
    --------
    >>> shard_rows([("a", "+", 10), ("a", "-", 10)], (0, 2), 4)
    [('a', '+', 0, 10)]
    >>> shard_rows([("a", "+", 10), ("a", "-", 10)], (0, 3), 4)
    [('a', '+', 0, 8)]
    """
    if shard is None:
        return [(c, s, 0, n) for c, s, n in groups if n > 0]
    index, count = shard
    lo, hi = _cut(groups, index, count, batch_rows), _cut(groups, index + 1, count, batch_rows)
    runs, offset = [], 0
    for contig, strand, length in groups:
        start, end = max(lo - offset, 0), min(hi - offset, length)
        if start < end:
            runs.append((contig, strand, start, end))
        offset += length
    return runs


def _cut(groups, index: int, count: int, batch_rows: int) -> int:
    """Where shard ``index`` starts on the line of all groups (``index == count``: the end)."""
    total = sum(n for _, _, n in groups)
    at = total * index // count
    offset = 0
    for _, _, length in groups:
        if at < offset + length:
            local = round((at - offset) / batch_rows) * batch_rows
            return offset + min(local, length)
        offset += length
    return total
