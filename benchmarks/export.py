"""Time and size of exporting a run's browser files: the default selection, then every known
and candidate-novel feature.

Usage::

    GENOINTERP_DATA_MIRROR=/work/shared/data python benchmarks/export.py [RUN_DIR] \
        [--out /tmp/export_bench] [--dataset ecoli_k12]

``RUN_DIR`` defaults to ``/tmp/run`` (the demo's E. coli run).  The run folder is only
read: when it has no ``run.json`` (older demo runs), a shadow folder under ``--out`` links
its ``features.h5``, ``concepts.h5`` and ``catalog/`` and adds a ``run.json`` naming
``--dataset``.  Each case runs in its own process so its peak memory (``VmHWM``) is its
own; the first case exports only the first half of each contig, so its peak memory
against the whole genome's shows whether memory grows with the genome.  Figures are
printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "default (50 known + 50 candidate novel), first half of the genome": {"half": True},
    "default (50 known + 50 candidate novel)": {},
    "all known + candidate novel": {"n_known": None, "n_novel": None},
}
LINKED = ("features.h5", "concepts.h5", "catalog", "alignment", "sae")


def run_folder(run: Path, out: Path, dataset: str) -> Path:
    """``run`` itself when it has a run.json, else a shadow folder that links its files."""
    if (run / "run.json").is_file():
        return run
    from genointerp._rundir import write_run_info

    shadow = out / "run"
    shadow.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = shadow / name
        if (run / name).exists() and not link.exists():
            link.symlink_to((run / name).resolve())
    write_run_info(shadow, dataset=dataset)
    return shadow


def one_case(run: Path, out: Path, options: dict) -> dict:
    import genointerp as gi
    import genointerp.features  # noqa: F401  (torch: part of the baseline, not of the export)
    from genointerp._rundir import RunDir

    lengths = RunDir(run).genome().lengths
    if options.pop("half", False):  # the first half of every contig: memory vs genome size
        options["regions"] = [f"{c}:1-{n // 2}" for c, n in lengths.items()]
    baseline = _status_kib("VmRSS") / 1024  # after imports and reading the genome
    started = time.perf_counter()
    result = gi.export.export_run(run, out, **options)
    seconds = time.perf_counter() - started
    sizes: dict[str, int] = {}
    for path in out.rglob("*"):
        if path.is_file():
            part = path.relative_to(out).parts[0] if len(path.relative_to(out).parts) > 1 else "."
            sizes[part] = sizes.get(part, 0) + path.stat().st_size
    return {
        "seconds": seconds,
        "features": len(result.features),
        "sites": int(result.features["n_sites"].sum()),
        "tracks": len(result.tracks),
        "bytes": sum(sizes.values()),
        "by_folder": sizes,
        "peak_rss_mib": _status_kib("VmHWM") / 1024,
        "baseline_rss_mib": baseline,
    }


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, default=Path("/tmp/run"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/export_bench"))
    parser.add_argument("--dataset", default="ecoli_k12")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    if args.case is not None:
        figures = one_case(args.run, args.out, json.loads(args.case))
        print(json.dumps(figures))
        return 0
    run = run_folder(args.run, args.out, args.dataset)
    features = (run / "features.h5").resolve()
    print(f"run {args.run} (features.h5 {features.stat().st_size / 1e9:.2f} GB)")
    for i, (label, options) in enumerate(CASES.items()):
        out = args.out / f"tracks{i}"
        command = [sys.executable, __file__, str(run), "--out", str(out)]
        done = subprocess.run(
            [*command, "--case", json.dumps(options)], capture_output=True, text=True
        )
        if done.returncode:
            print(f"{label}: failed\n{done.stderr}", file=sys.stderr)
            return done.returncode
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        folders = ", ".join(
            f"{k} {v / 1e6:.1f} MB" for k, v in sorted(figures["by_folder"].items())
        )
        print(
            f"{label}: {figures['features']} features, {figures['sites']:,} sites, "
            f"{figures['tracks']} track files, {figures['bytes'] / 1e6:.1f} MB in "
            f"{figures['seconds']:.1f} s, peak RSS {figures['peak_rss_mib']:.0f} MiB "
            f"({figures['peak_rss_mib'] - figures['baseline_rss_mib']:.0f} MiB above the "
            f"{figures['baseline_rss_mib']:.0f} MiB after imports) ({folders})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
