"""Every SAE architecture on the same activations at matched sparsity: FVU, L0, dead, loss.

Usage::

    GENOINTERP_DATA_MIRROR=../shared/data python benchmarks/sae_architectures.py \
        --store genointerp_demo/activations.h5 [--tokens 4194304] [--l0 32]

TopK and BatchTopK get k = L0 directly.  ReLU (L1) and JumpReLU (L0 penalty) have no
k, so their penalty coefficient is calibrated: full-length runs, bisecting the
coefficient geometrically until the held-out L0 is within 10% of the target (at most
``--calibration-runs``; the closest run is kept).  Every architecture trains for
``--tokens`` positions with the same d_sae, batch, learning rate and schedule, and is
scored on the same held-out positions (FVU, L0,
dead and dense fractions) and inside the model (loss recovered on random E. coli
windows, from bits/nt clean, spliced and zero-ablated).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import genointerp as gi

PENALTY = {"relu": "l1_coefficient", "jumprelu": "l0_coefficient"}
START = {"relu": 0.25, "jumprelu": 0.01}


def train(args, architecture: str, tokens: int, out: Path, **sae) -> tuple[dict, float]:
    config = gi.sae.SAETrainConfig(
        sae=gi.sae.SAEConfig(architecture=architecture, expansion_factor=16, **sae),
        data=gi.sae.DataConfig(store=str(args.store), batch_size=args.batch),
        optim=gi.sae.OptimConfig(lr=args.lr),
        tokens=tokens,
        eval_every=10**9,
        seed=args.seed,
    )
    started = time.perf_counter()
    gi.sae.train_sae(config, out, restart=True, progress=False)
    seconds = time.perf_counter() - started
    return json.loads((out / "metrics.json").read_text())["held_out"], seconds


def calibrate(args, architecture: str, work: Path) -> tuple[dict, Path, float]:
    """Full-length runs, bisecting the penalty (geometrically) until L0 is near the target.

    Returns the settings, directory and training seconds of the run closest to it.
    """
    name, low, high = PENALTY[architecture], None, None
    value, best = START[architecture], None
    for attempt in range(args.calibration_runs):
        out = work / f"{architecture}-{attempt}"
        metrics, seconds = train(args, architecture, args.tokens, out, **{name: value})
        print(f"  calibrating {architecture}: {name}={value:.4g} -> L0 {metrics['l0']:.1f}")
        miss = abs(metrics["l0"] - args.l0)
        if best is None or miss < best[0]:
            best = (miss, {name: value}, out, seconds)
        if miss <= 0.1 * args.l0:
            break
        if metrics["l0"] > args.l0:
            low = value
        else:
            high = value
        stepped = value * 3 if high is None else value / 3
        value = math.sqrt(low * high) if low and high else stepped
    return best[1], best[2], best[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--dataset", default="ecoli_k12", help="the store's genome (loss)")
    parser.add_argument("--tokens", type=int, default=1 << 21)
    parser.add_argument("--calibration-runs", type=int, default=5)
    parser.add_argument("--l0", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=1.6e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--architectures", default="topk,batchtopk,relu,jumprelu")
    args = parser.parse_args()
    model = gi.models.load_model("tiny")
    genome = gi.datasets.load(args.dataset).genome()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sae-arch-") as tmp:
        work = Path(tmp)
        for architecture in args.architectures.split(","):
            if architecture in PENALTY:
                settings, out, seconds = calibrate(args, architecture, work)
            else:
                settings, out = {"k": args.l0}, work / architecture
                _, seconds = train(args, architecture, args.tokens, out, **settings)
            metrics = gi.sae.evaluate_sae(
                out, args.store, positions=131072, model=model, genome=genome
            )
            rows.append((architecture, settings, seconds, metrics))
            print(f"  {architecture}: {settings}, {seconds:.0f} s, {metrics.summary()}")
    d_sae = 16 * model.d_model
    print(f"\n{args.tokens:,} tokens each, d_sae {d_sae}, batch {args.batch}, lr {args.lr}, "
          f"target L0 {args.l0}; held-out positions and {rows[0][3].loss.positions:,} "
          "scored nucleotides for loss")  # fmt: skip
    print("| architecture | setting | FVU | L0 | dead | dense | loss recovered | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for architecture, settings, seconds, m in rows:
        setting = ", ".join(f"{k}={v:.3g}" for k, v in settings.items())
        print(
            f"| {architecture} | {setting} | {m.fvu:.4f} | {m.l0:.1f} | {m.dead_fraction:.1%} | "
            f"{m.dense_fraction:.1%} | {m.loss.fraction:.3f} | {seconds:.0f} |"
        )
    loss = rows[0][3].loss
    print(f"bits/nt: clean {loss.clean:.4f}, zero-ablated {loss.zero:.4f}")


if __name__ == "__main__":
    main()
