"""``genointerp run CONFIG.yaml`` and ``genointerp demo``: whole runs through ``gi.pipeline``.

The CLI only parses and calls: every setting lives in the pipeline's config dataclasses; the
demo's named flags are shorthands for config keys, with the shipped demo config's values as
their defaults (read from it, not typed again here).
"""

from __future__ import annotations

import argparse
from pathlib import Path

STAGE_NAMES = ("concepts", "extract", "sae", "encode", "align", "rank", "export", "report")

# demo flag -> (config key, type, help); defaults come from the shipped demo config
DEMO_FLAGS = {
    "--layer": ("extract.layer", str, "layer to extract (default: the model's middle block)"),
    "--sae-tokens": ("sae.train.tokens", int, "positions the SAE trains on"),
    "--sae-expansion": ("sae.train.sae.expansion_factor", int, "SAE features per model dimension"),
    "--shifts": ("align.n_shifts", int, "circular shifts for alignment p-values"),
    "--tests": ("align.max_tests", int, "per-feature significance tests, best on validation first"),
}


def register(sub) -> None:
    run = sub.add_parser(
        "run",
        help="run every stage of a config file (resumable; up-to-date stages are skipped)",
        description="Run the stages of CONFIG.yaml in order: "
        + ", ".join(STAGE_NAMES)
        + ". A stage whose outputs match its settings and inputs is skipped; an interrupted "
        "stage resumes. Keys are documented in docs/pipeline.md.",
    )
    run.add_argument("config", type=Path, metavar="CONFIG.yaml", help="the run's settings")
    _common(run)
    which = run.add_mutually_exclusive_group()
    which.add_argument("--from", dest="from_stage", choices=STAGE_NAMES, help="start at STAGE")
    which.add_argument("--only", choices=STAGE_NAMES, help="run only STAGE")
    run.add_argument(
        "--shard",
        type=int,
        help="with --only extract/encode: do part I (0-based) of the stage's shards",
    )
    run.add_argument("--genome", help="only this genome's per-genome stages")
    run.set_defaults(handler=_run)

    demo = sub.add_parser(
        "demo",
        help="the E. coli demo: every stage with the built-in model (a shipped config)",
        description="Run the shipped demo config (genointerp/pipeline/configs/demo.yaml) through "
        "the same code as 'genointerp run'. Flags below set its keys.",
    )
    demo.add_argument("--dataset", help="data set instead of ecoli_k12")
    defaults = _demo_defaults()
    for flag, (key, kind, text) in DEMO_FLAGS.items():
        shown = defaults.get(key)
        demo.add_argument(
            flag,
            type=kind,
            help=f"{text} ({key}; demo: {shown})" if shown is not None else f"{text} ({key})",
        )
    demo.add_argument(
        "--baselines",
        action="store_true",
        help="also align the raw neurons and a linear probe per concept (align.baselines)",
    )
    _common(demo)
    demo.set_defaults(handler=_demo)


def config_options(parser: argparse.ArgumentParser, example: str = "align.n_shifts=200") -> None:
    """``-o`` and ``--set KEY=VALUE``: the flags every command reading a run config takes."""
    parser.add_argument("-o", "--output", type=Path, help="run folder (the config's 'output')")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"set a config key, e.g. --set {example} (repeatable)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    config_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="say what would run; do nothing")


def _demo_defaults() -> dict:
    """The shipped demo config's values for the demo's flags (for their help)."""
    import yaml

    path = Path(__file__).parent.parent / "pipeline" / "configs" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    out = {}
    for key, _, _ in DEMO_FLAGS.values():
        node = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out[key] = node
    return out


def config_overrides(args: argparse.Namespace) -> dict:
    from ..pipeline import parse_overrides

    values = parse_overrides(args.overrides)
    if args.output is not None:
        values["output"] = str(args.output.resolve())
    return values


def _run(args: argparse.Namespace) -> int:
    from ..pipeline import load_config

    config = load_config(args.config, config_overrides(args))
    return _execute(config, args, args.from_stage, args.only, args.shard, args.genome)


def _demo(args: argparse.Namespace) -> int:
    from ..pipeline import load_config, shipped_config

    values = {}
    for flag, (key, _, _) in DEMO_FLAGS.items():
        given = getattr(args, flag.lstrip("-").replace("-", "_"))
        if given is not None:
            values[key] = given
    if args.dataset:
        values["genomes"] = [{"dataset": args.dataset}]
    if args.baselines:
        values["align.baselines"] = True
    values["output"] = str((args.output or Path("genointerp_demo")).resolve())
    values.update(config_overrides(args))
    config = load_config(shipped_config("demo"), values)
    return _execute(config, args, None, None, None, None)


def _execute(config, args, from_stage, only, shard, genome) -> int:
    from ..errors import PREEMPTED_EXIT, Preempted
    from ..pipeline import preemptible, run

    try:
        with preemptible():
            run(
                config,
                from_stage=from_stage,
                only=only,
                dry_run=args.dry_run,
                shard=shard,
                genome=genome,
                progress=not args.quiet,
            )
    except Preempted as stop:
        print(f"genointerp {args.command}: {stop}; exit {PREEMPTED_EXIT} (requeue)")
        return PREEMPTED_EXIT
    if not args.dry_run and shard is None:
        _where(config)
    return 0


def _where(config) -> None:
    """The last lines: the rank summary (known concepts, families), and where the catalog,
    the tracks and the report are."""
    from ..rank import read_summary

    for folder in map(config.genome_folder, config.aligned_genomes):
        summary = read_summary(folder / "catalog")
        if summary is not None:
            print(f"Summary ({folder.name}): {summary}")
        for label, place in (
            ("Catalog", "catalog/catalog.h5ad"),
            ("Tracks", "tracks/igv_session.xml"),
            ("Report", "report/index.html"),
        ):
            if (folder / place).exists():
                print(f"{label}: {folder / place}")
        if (folder / "viewer" / "index.html").exists():
            print(f"Genome viewer: genointerp view {folder}")
