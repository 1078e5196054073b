"""``genointerp sae train | eval | import``: sparse autoencoders on stored activations.

Under torchrun (``torchrun --nproc_per_node=N -m genointerp sae train ...``) every
process runs ``sae train``; rank 0 writes the outputs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# CLI flag -> (config section, field); applied on top of --config.
_OVERRIDES = {
    "store": ("data", "store"),
    "layer": ("data", "layer"),
    "batch_size": ("data", "batch_size"),
    "architecture": ("sae", "architecture"),
    "k": ("sae", "k"),
    "expansion_factor": ("sae", "expansion_factor"),
    "tokens": (None, "tokens"),
    "lr": ("optim", "lr"),
    "seed": (None, "seed"),
    "device": (None, "device"),
}


def register(sub) -> None:
    sae = sub.add_parser("sae", help="train, evaluate and import sparse autoencoders")
    verbs = sae.add_subparsers(dest="verb", metavar="VERB", required=True)

    train = verbs.add_parser("train", help="train (or resume) an SAE on an activation store")
    train.add_argument("--config", type=Path, help="YAML config (SAETrainConfig: sae/data/optim)")
    train.add_argument("--store", help="activation store (overrides data.store)")
    train.add_argument(
        "--layer", help="layer of the store (default: its first); blocks.5+rc: both strands"
    )
    train.add_argument("--architecture", help="topk, batchtopk, relu or jumprelu")
    train.add_argument("--k", type=int, help="active features per position (topk, batchtopk)")
    train.add_argument("--expansion-factor", type=int, help="features per input dimension")
    train.add_argument("--tokens", type=int, help="training positions")
    train.add_argument("--batch-size", type=int, help="positions per step (all processes)")
    train.add_argument("--lr", type=float, help="peak learning rate")
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto (default), cpu, cuda")
    train.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    train.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    train.add_argument("--stop-after", type=int, help="checkpoint and stop at this step")
    train.set_defaults(handler=_train)

    evaluate = verbs.add_parser("eval", help="FVU, L0, dead/dense features, loss recovered")
    evaluate.add_argument("sae", type=Path, help="SAE directory (cfg.json + safetensors)")
    evaluate.add_argument("--store", type=Path, required=True, help="activation store")
    evaluate.add_argument("--positions", type=int, default=1_000_000, help="at most this many")
    evaluate.add_argument(
        "--all-chunks", action="store_true", help="score any chunks, not only held-out ones"
    )
    source = evaluate.add_mutually_exclusive_group()
    source.add_argument("--dataset", help="the store's data set: adds loss recovered")
    source.add_argument("--genome", type=Path, help="the store's genome file: adds loss recovered")
    evaluate.add_argument("--model", default="tiny", help="adapter of the store's model")
    evaluate.add_argument("--weights", help="model weights (default: the shipped tiny model)")
    evaluate.add_argument("--windows", type=int, default=16, help="windows for loss recovered")
    evaluate.add_argument("-o", "--output", type=Path, help="also write the metrics as JSON")
    evaluate.set_defaults(handler=_eval)

    convert = verbs.add_parser("import", help="convert a SAELens or Goodfire Evo 2 SAE")
    convert.add_argument("path", type=Path, help="SAELens directory or Goodfire .pt file")
    convert.add_argument("--format", required=True, help="saelens or goodfire-evo2")
    convert.add_argument("--model-id", help="model the SAE reads, e.g. evo2:evo2_7b")
    convert.add_argument("--layer", help="layer the SAE reads, e.g. blocks.26")
    convert.add_argument("--k", type=int, default=64, help="goodfire-evo2: k (default 64)")
    convert.add_argument(
        "--calibrate-store",
        type=Path,
        help="batchtopk without a threshold (goodfire-evo2): set one from this store's "
        "activations, so each position is encoded on its own",
    )
    convert.add_argument(
        "--calibrate-positions", type=int, default=262144, help="positions used (default 262,144)"
    )
    convert.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    convert.set_defaults(handler=_import)


def _train(args: argparse.Namespace) -> int:
    from .._config import load_yaml
    from ..sae import SAETrainConfig, train_sae

    data = load_yaml(args.config) if args.config else {}
    for flag, (section, key) in _OVERRIDES.items():
        value = getattr(args, flag)
        if value is not None:
            target = data if section is None else data.setdefault(section, {})
            target[key] = value
    config = SAETrainConfig.from_dict(data, args.config or "<command line>")
    if not config.data.store and config.data.source == "store":
        from ..errors import GenointerpError

        raise GenointerpError(
            "no activation store given. Fix: pass --store, set data.store, or stream from the "
            "model (data.source: model)"
        )
    result = train_sae(
        config,
        args.output,
        restart=args.restart,
        stop_after=args.stop_after,
        progress=not args.quiet,
    )
    if not result.complete:
        print(f"stopped at step {result.step}; run again to resume from {args.output}")
    elif _is_rank_zero():
        print(f"wrote {args.output}")
    return 0


def _is_rank_zero() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _eval(args: argparse.Namespace) -> int:
    from .._atomic import atomic_open
    from ..sae import evaluate_sae, load_sae

    sae, provenance = load_sae(args.sae)
    model = genome = None
    if args.dataset or args.genome:
        from ..acts._extract import resolve_genome
        from ..models import load_model

        model = load_model(args.model, args.weights)
        genome = resolve_genome(args.dataset or args.genome)
    metrics = evaluate_sae(
        sae,
        args.store,
        provenance=provenance,
        positions=args.positions,
        held_out_only=not args.all_chunks,
        model=model,
        genome=genome,
        windows=args.windows,
    )
    summary = metrics.summary()
    for key, value in summary.items():
        print(f"{key:<20} {value:.6g}" if isinstance(value, float) else f"{key:<20} {value}")
    counts, edges = metrics.density_histogram()
    print("feature density (log10 firing frequency: live features)")
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        print(f"  [{low:6.2f}, {high:6.2f})  {count}")
    if args.output:
        record = summary | {
            "density_histogram": {"counts": counts.tolist(), "edges": edges.tolist()}
        }
        with atomic_open(args.output) as handle:
            json.dump(record, handle, indent=2)
    return 0


def _calibrate(sae, provenance, store_path: Path, positions: int) -> float:
    from ..acts import ActivationStore
    from ..sae import calibrate_threshold
    from ..sae._data import first_rows
    from ..sae._io import check_compatible

    with ActivationStore(store_path) as store:
        layer = provenance.layer or store.layers[0]
        check_compatible(provenance, store.model_id, layer, str(store_path))
        rows = first_rows(store, layer, positions)
    return calibrate_threshold(sae, rows)


def _import(args: argparse.Namespace) -> int:
    from ..sae import import_sae, save_sae

    options = {"k": args.k} if args.format == "goodfire-evo2" else {}
    out = None if args.calibrate_store else args.output
    sae, provenance = import_sae(
        args.format, args.path, out, model_id=args.model_id, layer=args.layer, **options
    )
    if args.calibrate_store:
        threshold = _calibrate(sae, provenance, args.calibrate_store, args.calibrate_positions)
        save_sae(sae, args.output, provenance)
        print(f"threshold {threshold:.6g} from {args.calibrate_store}")
    print(
        f"wrote {args.output}: {sae.architecture} SAE, d_in {sae.d_in}, d_sae {sae.d_sae}, "
        f"model {provenance.model_id or '?'} layer {provenance.layer or '?'}"
    )
    return 0
