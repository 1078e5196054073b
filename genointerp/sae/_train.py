"""``genointerp sae train``: the training loop, checkpoints, resume and torchrun/DDP.

One process or many (``torchrun --nproc_per_node=N -m genointerp sae train ...``:
NCCL on GPUs, gloo on CPUs).  Each step's batch depends only on the seed and the
step (see :class:`ActivationBatches`), the learning-rate schedule only on the step,
and a checkpoint holds the weights, the optimiser, the schedule and the dead-latent
counters: a job killed and resumed ends with the same weights as one that never
stopped.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from .._atomic import atomic_open, atomic_path
from .._weights import load_torch_file
from ..acts import ActivationStore
from ..errors import CheckpointError, GenointerpError, Preempted
from ..models._base import resolve_device
from ._arch import SAE, build_sae
from ._config import SAETrainConfig
from ._data import open_stores, store_batches
from ._evaluate import check_spliceable, loss_recovered
from ._io import Provenance, save_sae
from ._metrics import measure
from ._stream import open_stream

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.tsv"
METRICS_FILE = "metrics.json"
LOG_COLUMNS = ("step", "tokens", "loss", "mse", "l0", "aux", "dead_fraction", "lr", "seconds")
EVAL_COLUMNS = (
    "eval_fvu",
    "eval_l0",
    "eval_dead_fraction",
    "eval_dense_fraction",
    "eval_loss_recovered",
)
# Settings that may change between a run and its resumption.
_OPERATIONAL = {
    "log_every",
    "eval_every",
    "checkpoint_every",
    "device",
    "autocast",
    "loss_windows",
    "model_weights",
    "genome",
}


class DeferredSignals:
    """Within ``with``, the scheduler's warning signals wait for the end of a step.

    SIGUSR1, SIGUSR2 (submitit) and SIGTERM handlers that are Python functions (the
    pipeline's, which raise :class:`~genointerp.errors.Preempted`) are replaced by one
    that only records the signal; the step loop calls :meth:`deliver` between steps,
    where the original handler runs.  So a checkpoint never holds a half-done step, and a
    resumed run reaches the same weights as one never stopped.  Signals left at their
    defaults (terminate) and runs outside the main thread are left alone.
    """

    SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM)

    def __init__(self) -> None:
        self.pending: tuple[int, object] | None = None
        self._saved: dict[int, object] = {}

    def __enter__(self) -> DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                handler = signal.getsignal(number)
                if callable(handler):
                    self._saved[number] = handler
                    signal.signal(number, self._record)
        return self

    def _record(self, number: int, frame) -> None:
        self.pending = self.pending or (number, frame)

    def deliver(self) -> None:
        """Run the original handler of a recorded signal, if any (it may raise)."""
        if self.pending is not None:
            number, frame = self.pending
            self.pending = None
            self._saved[number](number, frame)

    def __exit__(self, *exc) -> None:
        for number, handler in self._saved.items():
            signal.signal(number, handler)
        if exc[0] is None:
            self.deliver()  # arrived during the last step: the handler runs now


class TrainResult(NamedTuple):
    directory: Path  # where cfg.json, sae_weights.safetensors and the logs are
    sae: SAE  # this process's trained SAE, in normalised units (scale not folded)
    step: int  # steps done so far
    complete: bool  # False when stopped early by ``stop_after``


@dataclass
class _Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def start(cls, device: str) -> _Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls(device=resolve_device(device))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = device != "cpu" and torch.cuda.is_available()
        dev = torch.device("cuda", local) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(dev)
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if cuda else "gloo")
        return cls(torch.distributed.get_rank(), world, dev)

    def stop(self) -> None:
        if self.active and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def lr_factor(step: int, config: SAETrainConfig) -> float:
    """Linear warm-up, constant, then linear decay to 0 over the last ``decay_fraction``."""
    opt, steps = config.optim, config.steps
    if step < opt.warmup_steps:
        return (step + 1) / opt.warmup_steps
    decay_start = steps - int(steps * opt.decay_fraction)
    if step >= decay_start:
        return max(steps - step, 0) / max(steps - decay_start, 1)
    return 1.0


def geometric_median(x: torch.Tensor, iterations: int = 100) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the summed distance to the rows of x."""
    x = x.double()
    median = x.mean(0)
    for _ in range(iterations):
        weights = 1.0 / (x - median).norm(dim=1).clamp_min(1e-12)
        moved = (weights[:, None] * x).sum(0) / weights.sum()
        done = (moved - median).norm() <= 1e-7 * median.norm().clamp_min(1e-12)
        median = moved
        if done:
            break
    return median.float()


def train_sae(
    config: SAETrainConfig,
    out_dir: str | Path,
    *,
    restart: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train an SAE on an activation store; save it with its provenance to ``out_dir``.

    Parameters
    ----------
    config
        All settings; ``config.data.store`` names the activation store (``stores``: more
        stores of the same model and layer, mixed in).
    out_dir
        Receives ``cfg.json``, ``sae_weights.safetensors``, ``metrics.json``,
        ``train_log.tsv`` and ``checkpoint.pt``.  A checkpoint there is resumed.
    restart
        Ignore an existing checkpoint and start again.
    stop_after
        End this run at that step with a checkpoint (a scheduler's time limit); the
        next run resumes.

    Examples
    --------
    >>> data = DataConfig(store="ecoli.h5")                                # doctest: +SKIP
    >>> result = train_sae(SAETrainConfig(data=data), "runs/topk")         # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    dist = _Distributed.start(config.device)
    try:
        return _Run(config, out_dir, dist).train(restart, stop_after, progress)
    finally:
        dist.stop()


class _Run:
    """One training job: data, model, optimiser and the bookkeeping around them."""

    def __init__(self, config: SAETrainConfig, out_dir: Path, dist: _Distributed) -> None:
        self.config, self.out_dir, self.dist = config, out_dir, dist
        self.stores: list[ActivationStore] = []
        if config.data.source == "model":
            self.batches, self.source = open_stream(config, dist.device, dist.rank, dist.world)
        else:
            self.stores = open_stores(config.data)
            self.batches, self.source = store_batches(self.stores, config, dist.rank, dist.world)
        self.layer = self.source.layer
        torch.manual_seed(config.seed)
        self.sae = build_sae(config.sae, self.source.width)
        self.scale = self._initialise()
        self.sae.to(dist.device)
        self.optimizer = torch.optim.Adam(
            self.sae.parameters(),
            lr=config.optim.lr,
            betas=(config.optim.beta1, config.optim.beta2),
        )
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, config)
        )
        self.since_fired = torch.zeros(self.sae.d_sae, dtype=torch.long, device=dist.device)
        self.step = 0
        self._mid_step = False  # inside a step: weights updated, step counter not yet
        self._saved_step = -1  # step of the last checkpoint this run wrote
        self._eval_rows: np.ndarray | None = None
        self._loss_inputs = self._load_loss_inputs() if config.loss_windows else None

    def _initialise(self) -> float:
        """Input scale (unit mean squared norm) and b_dec, from the start of the stream."""
        sample = torch.from_numpy(
            self.batches.stream_rows(0, min(self.batches.rows_per_fill, 65536)).astype(np.float32)
        )
        data = self.config.data
        scale = 1.0
        if data.normalise:
            scale = float(1.0 / sample.double().pow(2).sum(1).mean().sqrt().clamp_min(1e-12))
        sample *= scale
        with torch.no_grad():
            if data.b_dec_init == "geometric_median":
                self.sae.b_dec.copy_(geometric_median(sample[:32768]))
            elif data.b_dec_init == "mean":
                self.sae.b_dec.copy_(sample.mean(0))
        return scale

    # -- the loop ---------------------------------------------------------------------
    def train(self, restart: bool, stop_after: int | None, progress: bool) -> TrainResult:
        config = self.config
        checkpoint = self.out_dir / CHECKPOINT_FILE
        if checkpoint.exists() and not restart:
            self._resume(checkpoint)
        elif self.dist.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._start_log()
        model = self._wrap()
        last = config.steps if stop_after is None else min(stop_after, config.steps)
        bar = tqdm(
            total=config.steps,
            initial=self.step,
            unit="step",
            desc="sae train",
            disable=not progress or self.dist.rank != 0,
        )
        try:
            with DeferredSignals() as signals:
                self._loop(model, last, bar, signals)
            complete = self.step >= config.steps
            if complete:
                self._check_in_sync()
                if self.dist.rank == 0:
                    self._finish()
        finally:
            bar.close()
            self.batches.close()
            for store in self.stores:
                store.close()
        return TrainResult(self.out_dir, self.sae, self.step, complete)

    def _loop(self, model: torch.nn.Module, last: int, bar, signals: DeferredSignals) -> None:
        """Steps up to ``last``; on :class:`Preempted`, a checkpoint, then re-raise."""
        config = self.config
        started, logged = time.perf_counter(), []
        try:
            while self.step < last:
                out, stop = self._step(model, signals)
                logged.append(out)
                if self.step % config.log_every == 0 or self.step == last or stop:
                    self._log(logged, time.perf_counter() - started, bar)
                    logged = []
                if self.step % config.eval_every == 0 and self.dist.rank == 0:
                    self._eval_line()
                if self.step % config.checkpoint_every == 0 or self.step == last:
                    self._checkpoint()
                bar.update(1)
                if stop:  # every process stops after the same step
                    signals.deliver()  # the scheduler's handler, which raises Preempted
                    raise Preempted("a signal to another process")
        except Preempted:
            if self._mid_step:  # weights and counters disagree: keep the last checkpoint
                log.warning("stopped inside step %d: resuming from the last checkpoint", self.step)
            elif self._saved_step != self.step:
                self._checkpoint()
            raise

    def _wrap(self) -> torch.nn.Module:
        if not self.dist.active:
            return self.sae
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        return DistributedDataParallel(self.sae, device_ids=ids, broadcast_buffers=False)

    def _step(self, model: torch.nn.Module, signals: DeferredSignals) -> tuple[tuple, bool]:
        """One optimiser step; also whether any process has received a warning signal."""
        config, sae = self.config, self.sae
        self._mid_step = True
        x = self.batches.batch(self.step).to(self.dist.device, non_blocking=True) * self.scale
        dead = self.since_fired >= config.dead_tokens
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if self.dist.device.type == "cuda" and config.autocast
            else nullcontext()
        )
        with autocast:
            out = model(x, dead)
        out.loss.backward()
        sae.remove_parallel_gradient()
        if config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(sae.parameters(), config.optim.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        sae.normalise_decoder()
        stop = self._count_firing(out.features, signals)
        self.step += 1
        self._mid_step = False
        return (out.loss.detach(), out.mse.detach(), out.l0.detach(), out.aux.detach(), dead), stop

    @torch.no_grad()
    def _count_firing(self, features: torch.Tensor, signals: DeferredSignals) -> bool:
        """Reset the counters of features that fired; return whether any process must stop."""
        fired = (features > 0).any(0).to(torch.int32)
        stop = signals.pending is not None
        if self.dist.active:  # one all-reduce: features fired anywhere, and any stop request
            flag = torch.tensor([int(stop)], dtype=torch.int32, device=fired.device)
            both = torch.cat([fired, flag])
            torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX)
            fired, stop = both[:-1], bool(both[-1])
        self.since_fired += self.config.data.batch_size
        self.since_fired[fired.bool()] = 0
        return stop

    # -- logs and evaluation --------------------------------------------------------------
    def _start_log(self) -> None:
        with atomic_open(self.out_dir / LOG_FILE) as handle:
            handle.write("\t".join(LOG_COLUMNS + EVAL_COLUMNS) + "\n")

    def _log(self, logged: list, seconds: float, bar) -> None:
        if self.dist.rank != 0 or not logged:
            return
        loss, mse, l0, aux = (
            torch.stack(v).float().mean() for v in list(zip(*logged, strict=True))[:4]
        )
        row = {
            "step": self.step,
            "tokens": self.step * self.config.data.batch_size,
            "loss": float(loss),
            "mse": float(mse),
            "l0": float(l0),
            "aux": float(aux),
            "dead_fraction": float(logged[-1][4].float().mean()),
            "lr": self.schedule.get_last_lr()[0],
            "seconds": round(seconds, 2),
        }
        self._append_log([_fmt(row[c]) for c in LOG_COLUMNS] + [""] * len(EVAL_COLUMNS))
        bar.set_postfix(mse=f"{row['mse']:.4f}", l0=f"{row['l0']:.1f}")

    def _eval_line(self) -> None:
        m = self.evaluate()
        row = ["" for _ in LOG_COLUMNS]
        row[0] = str(self.step)
        held_out = [_fmt(float(v)) for v in (m.fvu, m.l0, m.dead_fraction, m.dense_fraction)]
        recovered = _fmt(float(m.loss.fraction)) if m.loss else ""
        self._append_log([*row, *held_out, recovered])

    def _append_log(self, fields: list[str]) -> None:
        with open(self.out_dir / LOG_FILE, "a") as handle:
            handle.write("\t".join(fields) + "\n")

    def evaluate(self):
        """Metrics on up to ``eval_tokens`` held-out positions (normalised units)."""
        if self._eval_rows is None:
            self._eval_rows = self.batches.eval_rows(self.config.data.eval_tokens)
        rows = self._eval_rows
        was_training = self.sae.training
        self.sae.eval()
        try:
            metrics = measure(self.sae, rows, scale=self.scale)
        finally:
            self.sae.train(was_training)
        if self._loss_inputs is not None:
            raw = copy.deepcopy(self.sae).eval()
            raw.fold_scale(self.scale)
            model, genome = self._loss_inputs
            self.batches.settle()  # a streamed fill may be running the model
            metrics.loss = loss_recovered(
                raw,
                model,
                genome,
                self.layer,
                windows=self.config.loss_windows,
                seed=self.config.seed,
            )
        return metrics

    def _load_loss_inputs(self):
        """The store's model and genome, checked against the store, for loss recovered."""
        from ..acts import resolve_genome
        from ..models import load_model

        check_spliceable(self.layer)  # before any step, not at the first evaluation
        if self.dist.rank != 0:
            return None
        if not self.stores:  # streaming: the model and the first genome at hand
            return self.batches.model, self.batches.genomes[0]
        store = self.stores[0]
        model = load_model(store.model["adapter"], self.config.model_weights or None)
        if model.model_id != store.model_id:
            raise GenointerpError(
                f"{store.path}: extracted with {store.model_id!r}, but model_weights "
                f"loads {model.model_id!r}. Fix: set model_weights to the store's model"
            )
        source = self.config.genome or store.genome_source
        if not source:
            raise GenointerpError(
                f"{store.path}: records no genome file. Fix: set genome: for loss_windows"
            )
        genome = resolve_genome(source)
        if genome.checksum != store.genome_checksum:
            raise GenointerpError(
                f"{source}: not the genome {store.path} was extracted from. "
                "Fix: set genome: to that genome"
            )
        return model, genome

    # -- checkpoints --------------------------------------------------------------------
    def _checkpoint(self) -> None:
        if self.dist.rank != 0:
            return
        state = {
            "step": self.step,
            "world": self.dist.world,
            "scale": self.scale,
            "sae": self.sae.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "since_fired": self.since_fired.cpu(),
            "config": self.config.to_dict(),
        }
        with atomic_path(self.out_dir / CHECKPOINT_FILE) as tmp:
            torch.save(state, tmp)
        self._saved_step = self.step

    def _resume(self, path: Path) -> None:
        fix = "delete it to start over (or pass --restart)"
        state = load_torch_file(path, fix, map_location=self.dist.device)
        if not isinstance(state, dict) or not {"config", "world", "sae", "step"} <= set(state):
            raise CheckpointError(path, "is not a checkpoint of 'genointerp sae train'", fix)
        self._check_resumable(state, path)
        self.sae.load_state_dict(state["sae"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.since_fired.copy_(state["since_fired"])
        self.scale = float(state["scale"])
        self.step = int(state["step"])
        if self.dist.rank == 0:
            self._trim_log()
        log.info("resumed %s at step %d of %d", path, self.step, self.config.steps)

    def _check_resumable(self, state: dict, path: Path) -> None:
        saved, now = state["config"], self.config.to_dict()
        changed = [key for key in now if key not in _OPERATIONAL and saved.get(key) != now.get(key)]
        if state["world"] != self.dist.world:
            changed.append(f"processes ({state['world']} then, {self.dist.world} now)")
        if changed:
            raise GenointerpError(
                f"{path}: written with other settings ({', '.join(changed)} differ). "
                "Fix: resume with the same config and process count, or pass --restart"
            )

    def _trim_log(self) -> None:
        """Drop log lines past the checkpoint: the resumed run writes them again."""
        path = self.out_dir / LOG_FILE
        if not path.exists():
            self._start_log()
            return
        lines = path.read_text().splitlines()
        keep = [lines[0]] + [ln for ln in lines[1:] if int(ln.split("\t")[0]) <= self.step]
        with atomic_open(path) as handle:
            handle.write("\n".join(keep) + "\n")

    def _check_in_sync(self) -> None:
        """Under DDP every process must hold the same weights; say so loudly if not."""
        if not self.dist.active:
            return
        # Two float64 checksums per parameter tensor, computed without copying it whole.
        mine = torch.stack(
            [
                value
                for p in self.sae.parameters()
                for value in (p.detach().sum(dtype=torch.float64), p.detach().norm().double())
            ]
        )
        everyone = [torch.zeros_like(mine) for _ in range(self.dist.world)]
        torch.distributed.all_gather(everyone, mine)
        if any(not torch.equal(everyone[0], other) for other in everyone[1:]):
            raise GenointerpError("DDP processes ended with different weights; this is a bug")

    def _finish(self) -> None:
        """Fold the input scale into a copy of the SAE and save it with its metrics."""
        metrics = self.evaluate()
        final = copy.deepcopy(self.sae).cpu().eval()
        final.fold_scale(self.scale)
        provenance = Provenance(
            model_id=self.source.model_id,
            layer=self.layer,
            hook=self.source.hook,
            d_model=self.source.width,
            normalisation_scale=self.scale,
            data_checksum=self.source.checksum,
            store=self.source.where,
            tokens=self.step * self.config.data.batch_size,
            seed=self.config.seed,
            eval_fraction=self.config.data.eval_fraction,
        )
        save_sae(final, self.out_dir, provenance)
        counts, edges = metrics.density_histogram()
        record = {
            "held_out": _no_nan(metrics.summary()),
            "density_histogram": {
                "log10_frequency_edges": edges.tolist(),
                "counts": counts.tolist(),
            },
            "training": self.config.to_dict(),
        }
        with atomic_open(self.out_dir / METRICS_FILE) as handle:
            json.dump(record, handle, indent=2, allow_nan=False)
        log.info(
            "saved %s: held-out FVU %.4f, L0 %.1f, dead %.1f%%",
            self.out_dir,
            metrics.fvu,
            metrics.l0,
            100 * metrics.dead_fraction,
        )


def _no_nan(summary: dict) -> dict:
    """JSON has no NaN: undefined metrics (e.g. no held-out data) become null."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary.items()}


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


__all__ = ["DeferredSignals", "TrainResult", "geometric_median", "lr_factor", "train_sae"]
