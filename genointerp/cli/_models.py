"""``genointerp lm``, ``extract`` and ``acts``: train the built-in model, store activations."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub) -> None:
    lm = sub.add_parser("lm", help="train the built-in DNA language model (or a random copy)")
    verbs = lm.add_subparsers(dest="verb", metavar="VERB", required=True)
    train = verbs.add_parser("train", help="train (or resume training) the built-in model")
    train.add_argument("--config", type=Path, help="YAML training config (LMTrainConfig fields)")
    train.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    train.add_argument("--steps", type=int, help="override the config's number of steps")
    train.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    train.add_argument(
        "--stop-after", type=int, help="checkpoint and stop at this step (resume later)"
    )
    train.set_defaults(handler=_train)
    random = verbs.add_parser(
        "random", help="write an untrained, randomly initialised copy (a control baseline)"
    )
    random.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    random.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    random.set_defaults(handler=_random)

    extract = sub.add_parser(
        "extract", help="run a DNA model over a genome and store activations (HDF5)"
    )
    source = extract.add_mutually_exclusive_group()  # required unless --list-layers
    source.add_argument("--dataset", help="data set name whose genome to read")
    source.add_argument("--genome", type=Path, help="genome file (FASTA, GenBank, GFF3+FASTA)")
    extract.add_argument("--model", default="tiny", help="adapter: tiny, hf or evo2 (default tiny)")
    extract.add_argument(
        "--weights", help="model directory, hub id or Evo 2 name (default: shipped tiny)"
    )
    extract.add_argument("--layers", help="comma-separated layer names (default: the middle block)")
    extract.add_argument("--strands", default="+,-", help="'+', '-' or '+,-' (default both)")
    extract.add_argument("--window", type=int, help="nucleotides per forward pass")
    extract.add_argument("--overlap", type=int, help="nucleotides shared by consecutive windows")
    extract.add_argument("--min-context", type=int, help="least context of a stored position")
    extract.add_argument(
        "--batch-size", type=int, help="windows per forward (default: 1 on CPU, 8 on GPU)"
    )
    extract.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    extract.add_argument("--dtype", help="float32, bfloat16, float16 (default: float32 on CPU)")
    extract.add_argument("--store-dtype", default="float16", help="float16 (default) or float32")
    extract.add_argument(
        "--shard", help="i/n: do the i-th of n parts (default: SLURM_ARRAY_TASK_ID)"
    )
    extract.add_argument("--overwrite", action="store_true", help="start again, discarding work")
    extract.add_argument("--allow-download", action="store_true", help="hf: fetch a hub id")
    extract.add_argument(
        "--trust-remote-code", action="store_true", help="hf: run the model's code"
    )
    extract.add_argument("-o", "--output", type=Path, help="output .h5 store (required)")
    extract.add_argument(
        "--list-layers",
        action="store_true",
        help="print the model's layers in depth order, marking the default, and exit",
    )
    extract.set_defaults(handler=_extract, usage_error=extract.error)

    acts = sub.add_parser("acts", help="merge sharded activation stores; describe a store")
    verbs = acts.add_subparsers(dest="verb", metavar="VERB", required=True)
    merge = verbs.add_parser("merge", help="join the shards of one extraction into one store")
    merge.add_argument("shards", type=Path, nargs="+", help="shard files (name.shard-i-of-n.h5)")
    merge.add_argument("-o", "--output", type=Path, required=True, help="merged store")
    merge.set_defaults(handler=_merge)
    info = verbs.add_parser("info", help="describe a store: model, layers, contigs, completeness")
    info.add_argument("store", type=Path)
    info.set_defaults(handler=_info)


def _train(args: argparse.Namespace) -> int:
    from .._config import from_dict, load_yaml
    from ..models import LMTrainConfig, train_lm

    data = load_yaml(args.config) if args.config else {}
    if args.steps is not None:
        data["steps"] = args.steps
    config = from_dict(LMTrainConfig, data, args.config or "<defaults>", "lm train config")
    result = train_lm(
        config,
        args.output,
        restart=args.restart,
        stop_after=args.stop_after,
        progress=not args.quiet,
    )
    if result is None:
        print(f"stopped at step {args.stop_after}; run again to resume from {args.output}")
        return 0
    print(json.dumps(result["evaluation"], indent=2))
    print(f"wrote {args.output}")
    return 0


def _random(args: argparse.Namespace) -> int:
    from ..models import random_tiny, save_tiny

    model = random_tiny(args.seed, device="cpu")
    metadata = {
        "model_id": model.model_id.removeprefix("tiny:"),
        "random_init": {"seed": args.seed},
        "parameters": sum(p.numel() for p in model.model.parameters()),
    }
    save_tiny(model.model, args.output, metadata)
    print(f"wrote {args.output} ({model.model_id}); use it with --weights {args.output}")
    return 0


def _extract(args: argparse.Namespace) -> int:
    from ..acts import extract
    from ..models import load_model

    if not args.list_layers:  # check before loading a model
        if not (args.dataset or args.genome):
            args.usage_error("one of the arguments --dataset --genome is required")
        if args.output is None:
            args.usage_error("the following arguments are required: -o/--output")
    options = {"device": args.device, "dtype": args.dtype}
    if args.model == "hf":
        options.update(allow_download=args.allow_download, trust_remote_code=args.trust_remote_code)
    model = load_model(args.model, args.weights, **options)
    if args.list_layers:
        default = model.default_layer
        for layer in model.layers:  # depth order: embedding, blocks, final norm
            print(f"{layer}  (default)" if layer == default else layer)
        return 0
    layers = [x.strip() for x in args.layers.split(",")] if args.layers else None
    path = extract(
        args.dataset or args.genome,
        model,
        layers,
        args.output,
        strands=tuple(s.strip() for s in args.strands.split(",")),
        window=args.window,
        overlap=args.overlap,
        min_context=args.min_context,
        batch_size=args.batch_size,
        store_dtype=args.store_dtype,
        shard=args.shard,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(f"wrote {path}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from ..acts import merge

    print(f"wrote {merge(args.shards, args.output, progress=not args.quiet)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..acts import ActivationStore

    with ActivationStore(args.store) as store:
        print(f"model      {store.model_id}  (d_model {store.d_model})")
        print(f"layers     {', '.join(store.layers)}")
        print(f"strands    {', '.join(store.strands)}")
        if len(store.strands) == 2:
            joint = ", ".join(store.joint_layer(layer) for layer in store.layers)
            print(f"joint      {joint}  (own + opposite strand, width {2 * store.d_model})")
        print(f"window     {store.window}")
        print(f"genome     {store.genome_checksum}")
        print(f"positions  {store.n_positions:,} per layer")
        print(
            f"complete   {store.complete}"
            + (f"  (shard {store.shard[0]}/{store.shard[1]})" if store.shard else "")
        )
        for name, length in store.contigs.items():
            print(f"  {name}\t{length:,}")
    return 0
