"""Run a model over a genome and fill an activation store, resumably and in shards."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import GenointerpError
from ..models._base import Adapter, load_model, reverse_complement
from ._store import ActivationStore, create_store, shard_batches
from ._windows import STRANDS, WindowSpec, plan_windows, to_genomic, window_codes

log = logging.getLogger(__name__)
PARTIAL_SUFFIX = ".partial"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` (0-based i), or the SLURM array task when ``text`` is None and one is running."""
    if text is None:
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        if task is None:
            return None
        first = int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
        count = int(os.environ.get("SLURM_ARRAY_TASK_COUNT", "1"))
        return _check_shard(int(task) - first, count, f"SLURM_ARRAY_TASK_ID={task}")
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise GenointerpError(f"shard {text!r} is not 'i/n'. Fix: write e.g. --shard 0/8") from None
    return _check_shard(index, count, text)


def _check_shard(index: int, count: int, text: str) -> tuple[int, int]:
    if not 0 <= index < count:
        raise GenointerpError(f"shard {text}: need 0 <= i < n. Fix: number shards from 0 to n-1")
    return index, count


def shard_path(out: Path, shard: tuple[int, int] | None) -> Path:
    """Where shard ``(i, n)`` of ``out`` is written: ``name.shard-i-of-n.h5``."""
    if shard is None:
        return out
    return out.with_name(f"{out.stem}.shard-{shard[0]}-of-{shard[1]}{out.suffix}")


def resolve_genome(genome):
    """A :class:`~genointerp.io.Genome` as is, a sequence file opened, or a data set loaded."""
    from ..datasets import load
    from ..io import Genome

    if isinstance(genome, Genome):
        return genome
    if Path(genome).exists():
        return Genome.open(genome)
    return load(str(genome)).genome()


def window_spec(
    model: Adapter,
    window: int | None = None,
    overlap: int | None = None,
    min_context: int | None = None,
) -> WindowSpec:
    """The window plan's settings for ``model``; ``None`` takes the model's default.

    ``overlap`` defaults to ``min_context`` for a causal model and twice it for a masked one.
    """
    if min_context is None:
        min_context = model.default_min_context
    if overlap is None:  # a masked model needs the context on both sides of the kept part
        overlap = min_context if model.causal else 2 * min_context
    spec = WindowSpec(window or model.default_window, overlap, min_context, model.causal)
    if model.context_length and spec.window > model.context_length:
        raise GenointerpError(
            f"window {spec.window} exceeds the model's context of {model.context_length} nt. "
            f"Fix: pass window <= {model.context_length}"
        )
    return spec


def extract(
    genome,
    model: Adapter | str = "tiny",
    layers: str | Sequence[str] | None = None,
    out: str | Path = "activations.h5",
    *,
    strands: Sequence[str] = STRANDS,
    window: int | None = None,
    overlap: int | None = None,
    min_context: int | None = None,
    batch_size: int | None = None,
    device=None,
    dtype=None,
    store_dtype: str = "float16",
    shard: tuple[int, int] | str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Run ``model`` over every contig of ``genome`` on both strands and store activations.

    Parameters
    ----------
    genome
        A :class:`~genointerp.io.Genome`, a sequence file, or a data-set name.
    model
        An adapter from :func:`genointerp.models.load_model`, or an adapter name.
    layers
        Layer names (the model's module paths); default: the adapter's middle block.
    out
        The store to write. While running it is ``out.partial``; it gets its final
        name when every batch is written. A shard writes ``out.shard-i-of-n.h5``.
    window, overlap, min_context
        Window plan (see :class:`~genointerp.acts.WindowSpec`). Defaults come from the
        model (for the built-in model: 16,384 nt windows, 1,024 nt of context, which
        covers its receptive field, so windowing changes no activation); ``overlap``
        defaults to ``min_context`` for a causal model and twice it for a masked one.
    batch_size
        Windows per forward; default ``model.default_batch_size`` (1 on CPU, 8 on GPU).
    shard
        ``(i, n)`` or ``"i/n"``: do only the i-th of n parts (merge them with
        :func:`merge`). ``None`` uses ``SLURM_ARRAY_TASK_ID`` when set.
    overwrite
        Start again even if a finished or partial store exists.

    Returns
    -------
    The path of the finished store (or shard).
    """
    genome = resolve_genome(genome)
    if isinstance(model, str):
        model = load_model(model, device=device, dtype=dtype)
    layers = model.check_layers(layers if layers is not None else model.default_layer)
    spec = window_spec(model, window, overlap, min_context)
    shard = parse_shard(shard) if not isinstance(shard, tuple) else _check_shard(*shard, str(shard))
    target = shard_path(Path(out), shard)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    plan = plan_genome(genome, spec, strands, batch_size or model.default_batch_size)
    settings = dict(
        genome=genome,
        model_info=model.describe(),
        layers=layers,
        spec=spec,
        strands=list(strands),
        plan=plan,
        dtype=store_dtype,
        shard=shard,
    )
    if target.exists() and not overwrite:
        with ActivationStore(target) as store:
            _check_resumable(store, settings)  # the finished store must be the one asked for
        log.info("%s is already complete", target)
        return target
    if overwrite or not partial.exists():
        create_store(partial, **settings)
    with ActivationStore(partial, "r+") as store:
        _check_resumable(store, settings)
        _fill(store, genome, model, layers, plan, shard_batches(len(store.done), shard), progress)
    os.replace(partial, target)
    return target


def _check_resumable(store: ActivationStore, settings: dict) -> None:
    """Refuse to resume a partial store written with other settings."""
    expected = {
        "model_id": settings["model_info"]["model_id"],
        "genome checksum": settings["genome"].checksum,
        "layers": settings["layers"],
        "window settings": asdict(settings["spec"]),
        "strands": settings["strands"],
        "dtype": settings["dtype"],
        "shard": list(settings["shard"]) if settings["shard"] else None,
    }
    found = {
        "model_id": store.model_id,
        "genome checksum": store.genome_checksum,
        "layers": store.layers,
        "window settings": asdict(store.window),
        "strands": store.strands,
        "dtype": str(store.file.attrs["dtype"]),
        "shard": list(store.shard) if store.shard else None,
    }
    for key, value in expected.items():
        if json.dumps(found[key]) != json.dumps(value):
            raise GenointerpError(
                f"{store.path}: a store with another {key} ({found[key]} here, "
                f"{value} now). Fix: pass overwrite=True (--overwrite) or another output path"
            )
    if not np.array_equal(store.plan, settings["plan"]):
        raise GenointerpError(
            f"{store.path}: its window plan differs (batch size or contigs changed). "
            "Fix: resume with the same batch size, or pass --overwrite"
        )


def _fill(store, genome, model, layers, plan, owned, progress) -> None:
    """Forward every owned batch not yet done and write its kept positions."""
    done = store.done
    todo = [int(b) for b in owned if not done[b]]
    batch_starts = np.searchsorted(plan["batch"], np.arange(len(done) + 1))
    # Positions each batch stores: the progress bar's unit.
    kept = (
        np.add.reduceat(plan["keep_end"] - plan["keep_start"], batch_starts[:-1])
        if len(plan)
        else []
    )
    total = int(sum(kept[b] for b in todo))
    out_dtype = torch.float16 if store.file.attrs["dtype"] == "float16" else torch.float32
    bar = tqdm(total=total, disable=not progress, unit="pos", unit_scale=True, desc="extract")
    # Batch b is converted and written in a background thread while batch b + 1 runs
    # through the model; one batch at most is in flight, and leaving the ``with`` (even
    # on an exception) waits for it, so its done mark always follows its data.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract-write") as writer:
        pending = None
        for batch in todo:
            rows = plan[batch_starts[batch] : batch_starts[batch + 1]]
            output = forward_windows(model, genome, rows, layers)
            if pending is not None:
                pending.result()  # a failed write stops the loop here
            pending = writer.submit(
                _write_batch, store, genome, rows, output.activations, out_dtype, batch
            )
            bar.update(int(kept[batch]))
        if pending is not None:
            pending.result()
    bar.close()


def _write_batch(store, genome, rows, activations: dict, out_dtype, batch: int) -> None:
    """Write each window's kept positions of every layer, in genomic order, then mark
    ``batch`` done."""
    for layer, acts in activations.items():  # acts: (windows, length, d_model)
        for row, window_acts in zip(rows, acts, strict=True):
            contig = genome.names[int(row["contig"])]
            strand = int(row["strand"])
            lo = int(row["keep_start"] - row["start"])
            hi = int(row["keep_end"] - row["start"])
            part = window_acts[lo:hi].to("cpu", out_dtype)  # only kept rows are converted
            if strand == 1:
                part = part.flip(0)  # '-' rows run 3' to 5' in genomic order
            g0, g1 = to_genomic(
                strand, genome.lengths[contig], int(row["keep_start"]), int(row["keep_end"])
            )
            store.dataset(layer, contig, STRANDS[strand])[g0:g1] = part.numpy()
    store.mark_done(batch)


def plan_genome(genome, spec: WindowSpec, strands=STRANDS, batch_size: int = 1) -> np.ndarray:
    """Every window of every contig of ``genome`` on ``strands`` (see :func:`plan_windows`)."""
    return plan_windows(
        [genome.lengths[c] for c in genome.names],
        spec,
        circular=[genome.circular[c] for c in genome.names],
        strands=tuple(strands),
        batch_size=batch_size,
    )


def forward_windows(model: Adapter, genome, rows: np.ndarray, layers):
    """One forward over windows ``rows`` of a plan (all of one length): a ``ModelOutput``
    whose activations are (len(rows), length, d_model) per layer, on the strand read.

    Extraction and streaming SAE training (:mod:`genointerp.sae`) both run windows this way.
    """
    return model.forward(np.stack([strand_window(genome, row) for row in rows]), layers)


def strand_window(genome, row) -> np.ndarray:
    """Codes of one plan window, as read on its strand (reverse complement for '-')."""
    name = genome.names[int(row["contig"])]
    start, length = int(row["start"]), int(row["length"])
    codes = genome.codes(name)
    if int(row["strand"]) == 0:
        return window_codes(codes, start, length)
    # Strand position p is genomic position n - 1 - p: the window reads the reverse
    # complement of genomic [n - start - length, n - start), wrapped for circular contigs.
    return reverse_complement(window_codes(codes, len(codes) - start - length, length))
