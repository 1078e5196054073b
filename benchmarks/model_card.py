"""The built-in models side by side: held-out bits per nucleotide of every shipped version
(and any trained folder) on every genome of the v2 recipe, beside the Markov baselines.

    python benchmarks/model_card.py [--models v1 v2 my_folder]

Held-out means the last 10% of every contig of a training genome (both recipes keep the
same split); S. pyogenes was never trained on. Markov chains (orders 0-12, best smoothing and
order chosen on the test data itself) are fitted on the v2 recipe's training data, which
flatters them. Also prints each model's inference speed on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

import genointerp as gi
from genointerp.models._train import EVAL_SKIP, Corpus, LMTrainConfig, revcomp_tokens

RECIPE = Path(gi.models._tiny.default_weights_dir("v2")) / "train.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["v1", "v2"])
    ap.add_argument("--out", type=Path, default=Path("model_card.tsv"))
    args = ap.parse_args()
    config = LMTrainConfig(**yaml.safe_load(RECIPE.read_text()))
    corpus = Corpus.load(config)
    targets = {f"{name} (held-out)": segs for name, segs in corpus.heldout.items()}
    targets.update({f"{name} (unseen)": segs for name, segs in corpus.unseen.items()})
    rows = {label: {"nucleotides": sum(len(s) for s in segs)} for label, segs in targets.items()}
    for name in args.models:
        model = gi.models.load_model("tiny", name).model
        started = time.perf_counter()
        for label, segments in targets.items():
            rows[label][name] = gi.models.bits_per_nt(model, segments)
        print(f"{name}: scored in {time.perf_counter() - started:.0f} s; {speed(model)}")
    counts = gi.models.markov_counts(
        corpus.train + [revcomp_tokens(t) for t in corpus.train], config.markov_orders
    )
    for label, segments in targets.items():
        both = segments + [revcomp_tokens(s) for s in segments]
        markov = gi.models.markov_bits(counts, both, orders=config.markov_orders, skip=EVAL_SKIP)
        order = min(markov, key=markov.get)
        rows[label].update(unigram=markov[0], best_markov=markov[order], markov_order=order)
    table = pd.DataFrame(rows).T.rename_axis("evaluated on").reset_index()
    table.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def speed(model) -> str:
    """Nucleotides per second of the whole model, one 16,384 nt window per forward."""
    tokens = torch.from_numpy(np.random.default_rng(0).integers(0, 4, (1, 16384)))
    with torch.inference_mode():
        model(tokens)
        started = time.perf_counter()
        for _ in range(5):
            model(tokens)
    rate = 5 * 16384 / (time.perf_counter() - started)
    return f"{rate / 1e3:.0f} k nt/s (threads: {torch.get_num_threads()})"


if __name__ == "__main__":
    main()
