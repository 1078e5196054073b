"""SAE training speed and quality: genointerp against sae-lens, same data, same TopK setup.

Usage::

    python benchmarks/sae_train.py --store genointerp_demo/activations.h5 \
        --peer-python /path/to/saelens-venv/bin/python [--tokens 1048576] [--k 32]

sae-lens is not a dependency of genointerp: install it in its own environment
(``python -m venv saelens-venv && saelens-venv/bin/pip install torch==2.13.0 sae-lens``)
and pass that interpreter.  Both tools train a TopK SAE (d_sae = 16 x d_model, k, batch,
Adam lr, warm-up, final linear decay, gradient clipping at 1) on the very same batches
in the same order: genointerp's shuffled stream from the store, scaled to unit mean
squared norm, which sae-lens receives ready-made (so its own normalisation is off).
Each keeps its own defaults otherwise (sae-lens: b_dec = 0, decoder rows at norm 0.1
rescaled by norm; genointerp: geometric-median b_dec, unit-norm decoder).

Prints the training loop's time and tokens/s of each, their ratio, and FVU, L0 and
dead fraction of both SAEs on the same held-out positions (chunks neither trained on).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import genointerp as gi

HERE = Path(__file__).resolve().parent
EVAL_POSITIONS = 131072  # held-out positions both SAEs are scored on


def ours(args, out: Path) -> tuple[gi.sae.SAETrainConfig, float, float]:
    """Train with genointerp; returns the config, the loop's seconds and the whole wall time."""
    steps = args.tokens // args.batch
    config = gi.sae.SAETrainConfig(
        sae=gi.sae.SAEConfig(architecture="topk", k=args.k, expansion_factor=16),
        data=gi.sae.DataConfig(store=str(args.store), batch_size=args.batch),
        optim=gi.sae.OptimConfig(lr=args.lr, warmup_steps=max(steps // 20, 1)),
        tokens=steps * args.batch,
        eval_every=10**9,
        dead_tokens=args.dead_steps * args.batch,
    )
    started = time.perf_counter()
    gi.sae.train_sae(config, out, restart=True, progress=False)
    wall = time.perf_counter() - started
    last = (out / "train_log.tsv").read_text().splitlines()[-1].split("\t")
    return config, float(last[8]), wall


def peer(args, config, scale: float, work: Path) -> dict:
    """Dump the same batches genointerp trained on, then train sae-lens on them."""
    with gi.acts.ActivationStore(config.data.store) as store:
        batches = gi.sae.ActivationBatches(
            store,
            store.layers[0],
            config.data.batch_size,
            config.data.buffer_batches,
            config.seed,
            config.data.eval_fraction,
        )
        rows = np.concatenate([batches.batch(s).numpy() for s in range(config.steps)]) * scale
    np.save(work / "batches.npy", rows.astype(np.float32))
    command = [
        args.peer_python, str(HERE / "_saelens_peer.py"), "--data", str(work / "batches.npy"),
        "--out", str(work / "saelens"), "--d-sae", str(16 * rows.shape[1]), "--k", str(args.k),
        "--batch", str(args.batch), "--lr", str(args.lr),
        "--warmup", str(config.optim.warmup_steps),
        "--decay", str(int(config.steps * config.optim.decay_fraction)),
        "--dead-window", str(args.dead_steps), "--seed", "0",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"sae-lens run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def held_out(config) -> np.ndarray:
    with gi.acts.ActivationStore(config.data.store) as store:
        batches = gi.sae.ActivationBatches(
            store, store.layers[0], 1, seed=config.seed, eval_fraction=config.data.eval_fraction
        )
        return batches.eval_rows(EVAL_POSITIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="activation store (one layer)")
    parser.add_argument("--peer-python", help="python of an environment with sae-lens")
    parser.add_argument("--tokens", type=int, default=1 << 20)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--dead-steps", type=int, default=244, help="steps unfired = dead")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; store {args.store}; "
          f"load average {os.getloadavg()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sae-bench-") as tmp:
        work = Path(tmp)
        config, loop, wall = ours(args, work / "genointerp")
        sae, provenance = gi.sae.load_sae(work / "genointerp")
        rows = held_out(config)
        results = [("genointerp", config.steps * args.batch, loop, wall, gi.sae.measure(sae, rows))]
        if args.peer_python:
            figures = peer(args, config, provenance.normalisation_scale, work)
            theirs, _ = gi.sae.import_sae(
                "saelens", work / "saelens", model_id=provenance.model_id, layer=provenance.layer
            )
            metrics = gi.sae.measure(theirs, rows * provenance.normalisation_scale)
            results.append((figures["tool"], figures["tokens"], figures["seconds"], None, metrics))
        else:
            print("no --peer-python: sae-lens not run")
    print(f"\nTopK d_sae {sae.d_sae} k {args.k}, batch {args.batch}, lr {args.lr}, "
          f"{config.steps} steps; held-out FVU on {len(rows):,} positions")  # fmt: skip
    print(f"{'tool':<22}{'tokens':>10}{'loop s':>9}{'tokens/s':>11}{'FVU':>9}{'L0':>7}{'dead':>7}")
    for tool, tokens, seconds, _, m in results:
        print(
            f"{tool:<22}{tokens:>10,}{seconds:>9.1f}{tokens / seconds:>11,.0f}"
            f"{m.fvu:>9.4f}{m.l0:>7.1f}{m.dead_fraction:>7.1%}"
        )
    print(f"genointerp wall time including setup and saving: {results[0][3]:.1f} s")
    if len(results) == 2:
        speed = (results[0][1] / results[0][2]) / (results[1][1] / results[1][2])
        print(f"speed ratio genointerp / sae-lens: {speed:.2f}x; "
              f"FVU difference {results[0][4].fvu - results[1][4].fvu:+.4f}")  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
