"""The sae-lens side of ``benchmarks/sae_train.py``; runs in sae-lens's own environment.

Trains a TopK SAE with sae-lens's ``SAETrainer`` on the batches in ``--data`` (a .npy
of float32 rows, already in training order), times the training loop, saves the SAE
with ``save_inference_model`` and prints one JSON line of figures.  Imports only
sae-lens, torch and numpy, never genointerp.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sae_lens import LoggingConfig, SAETrainer, TopKTrainingSAE, TopKTrainingSAEConfig  # noqa: E402
from sae_lens.config import SAETrainerConfig  # noqa: E402


def batches(rows: np.ndarray, batch_size: int):
    """The rows in order, one batch per step; the trainer asks for exactly tokens // batch."""
    for start in range(0, len(rows), batch_size):
        yield torch.from_numpy(np.ascontiguousarray(rows[start : start + batch_size]))
    raise RuntimeError("sae-lens asked for more batches than the benchmark prepared")


def main() -> None:
    parser = argparse.ArgumentParser()
    for name, kind in [
        ("--data", str), ("--out", str), ("--d-sae", int), ("--k", int), ("--batch", int),
        ("--lr", float), ("--warmup", int), ("--decay", int), ("--dead-window", int),
        ("--seed", int),
    ]:  # fmt: skip
        parser.add_argument(name, type=kind, required=True)
    args = parser.parse_args()
    rows = np.load(args.data, mmap_mode="r")
    torch.manual_seed(args.seed)
    sae = TopKTrainingSAE(
        TopKTrainingSAEConfig(
            d_in=rows.shape[1], d_sae=args.d_sae, k=args.k, dtype="float32", device="cpu"
        )
    )
    config = SAETrainerConfig(
        total_training_samples=len(rows),
        train_batch_size_samples=args.batch,
        lr=args.lr,
        lr_end=args.lr,
        lr_scheduler_name="constant",
        lr_warm_up_steps=args.warmup,
        lr_decay_steps=args.decay,
        adam_beta1=0.9,
        adam_beta2=0.999,
        device="cpu",
        autocast=False,
        dead_feature_window=args.dead_window,
        feature_sampling_window=2000,
        n_checkpoints=0,
        checkpoint_path=None,
        save_final_checkpoint=False,
        logger=LoggingConfig(log_to_wandb=False),
    )
    trainer = SAETrainer(cfg=config, sae=sae, data_provider=batches(rows, args.batch))
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    sae.save_inference_model(args.out)
    import sae_lens

    print(
        json.dumps(
            {
                "tool": f"sae-lens {sae_lens.__version__}",
                "tokens": int(trainer.n_training_samples),
                "steps": int(trainer.n_training_steps),
                "seconds": seconds,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
