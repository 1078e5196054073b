"""Train the built-in model (``genointerp lm train``): data, loop, evaluation, resume.

Training windows are drawn at random from the training part of every genome,
on either strand; the last ``holdout_fraction`` of every contig is held out and
scored in bits per nucleotide.  Each step's batch depends only on the seed and
the step number, so a job resumed from a checkpoint sees the same batches as
one that never stopped.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._atomic import atomic_path
from .._weights import load_torch_file
from ..errors import CheckpointError, GenointerpError
from ._base import N_INDEX, nucleotide_index
from ._markov import markov_bits, markov_counts
from ._tiny import TinyConfig, TinyDNA, grow, read_tiny, save_tiny

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.tsv"
EVAL_SKIP = 16  # every model is scored from this position of a held-out segment on


@dataclass
class LMTrainConfig:
    """Settings of ``genointerp lm train`` (YAML keys are the field names)."""

    model: TinyConfig = field(default_factory=TinyConfig)
    """Architecture of the model to train."""
    train: list[str] = field(default_factory=lambda: ["ecoli_k12"])
    """Data-set manifests whose genomes are trained on (both strands)."""
    unseen: list[str] = field(default_factory=list)
    """Data sets never trained on, scored at the end (a genome the model never saw)."""
    holdout_fraction: float = 0.1
    """The last fraction of every training contig is held out and scored."""
    steps: int = 2000
    """Optimiser steps."""
    batch_size: int = 16
    """Windows per step."""
    seq_len: int = 2048
    """Nucleotides per training window."""
    lr: float = 2e-3
    """Peak learning rate (AdamW)."""
    min_lr_fraction: float = 0.05
    """Cosine decay ends at this fraction of ``lr``."""
    warmup_steps: int = 100
    """Linear warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay on matrices."""
    grad_clip: float = 1.0
    """Clip the gradient norm to this value."""
    seed: int = 0
    """Seed for initial weights and for the batches."""
    eval_every: int = 250
    """Steps between held-out evaluations (on ``eval_sample`` nucleotides)."""
    eval_sample: int = 200_000
    """Held-out nucleotides scored at each periodic evaluation (all at the end)."""
    checkpoint_every: int = 100
    """Steps between checkpoints (resume restarts from the last one)."""
    compile: bool = False
    """Use ``torch.compile`` for the training step (faster on CPU after ~1 min of compiling)."""
    markov_orders: list[int] = field(default_factory=lambda: list(range(13)))
    """Orders of the Markov baselines fitted on the same training data."""
    init: str | None = None
    """Start from these weights (a directory written by ``lm train``) instead of random ones:
    fine-tuning. Their architecture must match ``model``, or ``model`` must be a deeper one of
    the same width (its dilations holding theirs in order): the new blocks then start as the
    identity, so training begins from exactly the old model's predictions."""

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = TinyConfig(**self.model)
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        for name in ("steps", "batch_size", "seq_len", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.train:
            raise ValueError("train must name at least one data set")


def revcomp_tokens(tokens: np.ndarray) -> np.ndarray:
    """Reverse complement of 0..4 tokens (A C G T N)."""
    return np.where(tokens == N_INDEX, N_INDEX, 3 - tokens)[::-1].astype(np.uint8)


@dataclass
class Corpus:
    """Training and held-out segments (token arrays, 0..4) of the configured genomes."""

    train: list[np.ndarray]
    heldout: dict[str, list[np.ndarray]]  # data set -> held-out segment per contig
    unseen: dict[str, list[np.ndarray]]  # data set -> whole contigs
    checksums: dict[str, str]

    @classmethod
    def load(cls, config: LMTrainConfig) -> Corpus:
        from ..datasets import load

        train, heldout, unseen, checksums = [], {}, {}, {}
        for name in config.train:
            genome = load(name).genome()
            checksums[name] = genome.checksum
            heldout[name] = []
            for contig in genome.names:
                tokens = nucleotide_index(genome.codes(contig))
                cut = int(len(tokens) * (1 - config.holdout_fraction))
                train.append(tokens[:cut])
                heldout[name].append(tokens[cut:])
        for name in config.unseen:
            genome = load(name).genome()
            checksums[name] = genome.checksum
            unseen[name] = [nucleotide_index(genome.codes(c)) for c in genome.names]
        return cls(train, heldout, unseen, checksums)

    @property
    def n_train(self) -> int:
        return sum(len(t) for t in self.train)

    def batch(self, step: int, seed: int, batch_size: int, seq_len: int) -> torch.Tensor:
        """Windows of ``seq_len + 1`` tokens for ``step``, either strand: (batch, seq_len + 1)."""
        rng = np.random.default_rng([seed, step])
        usable = np.array([max(len(t) - seq_len - 1, 0) for t in self.train], dtype=np.float64)
        which = rng.choice(len(self.train), size=batch_size, p=usable / usable.sum())
        rows = []
        for seg in which:
            start = int(rng.integers(0, usable[seg] + 1))
            window = self.train[seg][start : start + seq_len + 1]
            rows.append(revcomp_tokens(window) if rng.random() < 0.5 else window)
        return torch.from_numpy(np.stack(rows).astype(np.int64))


def lr_at(step: int, config: LMTrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_fraction * lr``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    floor = config.min_lr_fraction
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@torch.inference_mode()
def bits_per_nt(
    model: TinyDNA, segments: list[np.ndarray], *, both_strands: bool = True, chunk: int = 16384
) -> float:
    """Mean bits per nucleotide over ``segments`` (token arrays), scored from ``EVAL_SKIP`` on.

    Each chunk is run with the model's full receptive field of left context, so the
    result does not depend on ``chunk``.  Targets that are N are left out.
    """
    model.eval()
    reach = model.config.receptive_field - 1
    total, count = 0.0, 0
    strands = [segments, [revcomp_tokens(s) for s in segments]] if both_strands else [segments]
    for strand in strands:
        for tokens in strand:
            for start in range(EVAL_SKIP, len(tokens), chunk):
                lo = max(start - 1 - reach, 0)
                window = torch.from_numpy(tokens[lo : start + chunk].astype(np.int64))[None]
                logits, _ = model(window[:, :-1])
                targets = window[0, 1:]
                keep = slice(start - 1 - lo, None)
                logp = F.log_softmax(logits[0, keep].float(), dim=-1)
                target = targets[keep]
                valid = target != N_INDEX
                nll = -logp[valid].gather(1, target[valid, None]).sum()
                total += float(nll) / math.log(2)
                count += int(valid.sum())
    return total / max(count, 1)


def _sample_segments(segments: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    """About ``n`` nucleotides from ``segments``: a few contiguous pieces at fixed places."""
    rng = np.random.default_rng(seed)
    pieces = []
    piece = 20_000
    for _ in range(max(n // piece, 1)):
        seg = segments[int(rng.integers(len(segments)))]
        start = int(rng.integers(0, max(len(seg) - piece, 0) + 1))
        pieces.append(seg[start : start + piece])
    return pieces


def _optimizer(model: TinyDNA, config: LMTrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95))


def _load_checkpoint(path: Path, config: LMTrainConfig, model, optimizer) -> tuple[int, list]:
    fix = "delete it to start over (or pass --restart)"
    state = load_torch_file(path, fix)
    if not isinstance(state, dict) or not {"config", "model", "optimizer"} <= set(state):
        raise CheckpointError(path, "is not a checkpoint of 'genointerp lm train'", fix)
    if state["config"] != json.loads(json.dumps(asdict(config))):
        raise GenointerpError(
            f"{path}: this checkpoint was written with other settings. Fix: use the same "
            "config to resume, or a new output directory (or --restart to start over)"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), list(state["log"])


def _save_checkpoint(path: Path, config, model, optimizer, step: int, rows: list) -> None:
    state = {
        "config": json.loads(json.dumps(asdict(config))),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "log": rows,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train_lm(
    config: LMTrainConfig,
    out_dir: str | Path,
    *,
    restart: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    corpus: Corpus | None = None,
) -> dict | None:
    """Train the built-in model and write it to ``out_dir``; resume from a checkpoint there.

    Writes ``model.safetensors`` + ``config.json`` (with the evaluation results),
    ``train_log.tsv`` and, while training, ``checkpoint.pt``.  Returns the evaluation
    record: held-out bits per nucleotide for every data set, beside unigram and the
    best order-k Markov chain fitted on the same training data.

    ``stop_after`` ends this run at that step with a checkpoint (for schedulers with
    time limits: the next run resumes); it then returns ``None``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = corpus or Corpus.load(config)
    torch.manual_seed(config.seed)
    model = TinyDNA(config.model)
    if config.init is not None:
        model = _initial_model(config)
    optimizer = _optimizer(model, config)
    checkpoint = out_dir / CHECKPOINT_FILE
    step, rows = 0, []
    if checkpoint.exists() and not restart:
        step, rows = _load_checkpoint(checkpoint, config, model, optimizer)
        log.info("resuming from step %d of %d (%s)", step, config.steps, checkpoint)
    step_fn = torch.compile(model) if config.compile else model
    heldout_sample = _sample_segments(
        [s for segs in corpus.heldout.values() for s in segs], config.eval_sample, config.seed
    )
    started = time.perf_counter()
    bar = tqdm(total=config.steps, initial=step, disable=not progress, unit="step")
    last_step = config.steps if stop_after is None else min(stop_after, config.steps)
    while step < last_step:
        model.train()
        batch = corpus.batch(step, config.seed, config.batch_size, config.seq_len)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        logits, _ = step_fn(batch[:, :-1])
        loss = F.cross_entropy(
            logits.reshape(-1, 4).float(), batch[:, 1:].reshape(-1), ignore_index=N_INDEX
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        row = {"step": step, "train_bits": loss.item() / math.log(2), "lr": lr_at(step - 1, config)}
        if step % config.eval_every == 0 or step == config.steps:
            row["heldout_bits"] = bits_per_nt(model, heldout_sample)
            log.info("step %d: held-out %.4f bits/nt", step, row["heldout_bits"])
        rows.append(row)
        bar.update(1)
        bar.set_postfix(bits=f"{row['train_bits']:.3f}")
        if step % config.checkpoint_every == 0 or step == last_step:
            _save_checkpoint(checkpoint, config, model, optimizer, step, rows)
    bar.close()
    if step < config.steps:
        return None
    elapsed = time.perf_counter() - started
    evaluation = evaluate(model, corpus, config)
    tokens_seen = config.steps * config.batch_size * config.seq_len
    metadata = {
        "model_id": f"{config.model.name}-s{config.seed}-{config.steps}steps",
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_seen": tokens_seen,
        "train_seconds_this_run": round(elapsed, 1),
        "training": json.loads(json.dumps(asdict(config))),
        "data_checksums": corpus.checksums,
        "train_nucleotides": corpus.n_train,
        "evaluation": evaluation,
    }
    save_tiny(model, out_dir, metadata)
    _write_log(out_dir / LOG_FILE, rows)
    return metadata


def _initial_model(config: LMTrainConfig) -> TinyDNA:
    """The weights of ``config.init``, grown to ``config.model`` when that is deeper."""
    start, _ = read_tiny(config.init)
    if start.config == config.model:
        return start
    try:
        model = grow(start, config.model)
    except ValueError as err:
        raise GenointerpError(
            f"{config.init}: its architecture ({start.config}) cannot start the config's model "
            f"({config.model}): {err}. Fix: copy its 'model' section into the config, or only "
            "add blocks"
        ) from err
    log.info("grew %s: %d -> %d blocks", config.init, len(start.blocks), len(model.blocks))
    return model


def evaluate(model: TinyDNA, corpus: Corpus, config: LMTrainConfig) -> dict:
    """Held-out and unseen-genome bits per nucleotide, beside Markov baselines."""
    result = {}
    train_both = corpus.train + [revcomp_tokens(t) for t in corpus.train]
    counts = markov_counts(train_both, config.markov_orders)  # once, for every target
    targets = {f"{name} (held-out)": segs for name, segs in corpus.heldout.items()}
    targets.update({f"{name} (unseen)": segs for name, segs in corpus.unseen.items()})
    for label, segments in targets.items():
        test_both = segments + [revcomp_tokens(s) for s in segments]
        markov = markov_bits(counts, test_both, orders=config.markov_orders, skip=EVAL_SKIP)
        best_order = min(markov, key=markov.get)
        result[label] = {
            "model_bits": round(bits_per_nt(model, segments), 4),
            "unigram_bits": round(markov.get(0, float("nan")), 4),
            "best_markov_bits": round(markov[best_order], 4),
            "best_markov_order": best_order,
            "nucleotides": int(sum(len(s) for s in segments)),
        }
        log.info("%s: %s", label, result[label])
    return result


def _write_log(path: Path, rows: list[dict]) -> None:
    columns = ["step", "lr", "train_bits", "heldout_bits"]
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(_fmt(row.get(c)) for c in columns) + "\n")


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
