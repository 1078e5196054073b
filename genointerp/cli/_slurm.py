"""``genointerp slurm CONFIG.yaml``: a run as SLURM batch jobs, written and maybe submitted."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._run import config_options


def register(sub) -> None:
    parser = sub.add_parser(
        "slurm",
        help="write a run's SLURM batch jobs (one per stage, chained), optionally submit them",
        description="Write RUN/slurm/NN-<stage>.sbatch and RUN/slurm/submit.sh for CONFIG.yaml: "
        "job arrays for sharded stages (extract.shards, encode.shards) followed by their merge "
        "job, torchrun for SAE training when slurm.gpus > 0, each job after the one before "
        "(--dependency=afterok). Jobs requeue themselves when preempted and resume. Cluster "
        "settings are the config's 'slurm:' keys (docs/hpc.md).",
    )
    parser.add_argument("config", type=Path, metavar="CONFIG.yaml", help="the run's settings")
    config_options(parser, "slurm.partition=gpu")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--submit", action="store_true", help="submit the jobs with sbatch")
    how.add_argument(
        "--submitit", action="store_true", help="submit through submitit instead (if installed)"
    )
    parser.set_defaults(handler=run_slurm)


def run_slurm(args: argparse.Namespace) -> int:
    from ..pipeline import load_config, submit, submit_submitit, write_scripts
    from ._run import config_overrides

    overrides = config_overrides(args)
    config = load_config(args.config, overrides)
    path = _jobs_config(config) if overrides else args.config
    if args.submitit:
        ids = submit_submitit(config, path)
    elif args.submit:
        ids = submit(config, path)
    else:
        scripts = write_scripts(config, path)
        for script in scripts[:-1]:
            print(f"wrote {script}")
        print(f"submit with: bash {scripts[-1]}")
        return 0
    for name, job_id in ids.items():
        print(f"{name}: job {job_id}")
    print(f"logs: {Path(config.output) / 'slurm' / 'logs'}")
    return 0


def _jobs_config(config) -> Path:
    """``RUN/slurm/config.yaml``: the config with ``-o`` and ``--set`` applied, for the jobs to
    read (the user's file lacks them: the jobs would write elsewhere, with other shard counts)."""
    from .._atomic import atomic_path

    path = Path(config.output) / "slurm" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(
            "# genointerp slurm: the run's config with -o/--set applied\n" + config.to_yaml()
        )
    return path
