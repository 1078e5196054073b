"""Check an installed genointerp wheel from outside the checkout: every shipped file is found.

Run by .ci/run in a fresh virtual environment holding only the wheel and its dependencies.
Exits non-zero, naming what is missing, when anything a user needs did not ship.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def check(condition: bool, what: str) -> None:
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        sys.exit(f"wheel check failed: {what}")


def run(*args: str) -> str:
    cli = Path(sys.executable).parent / "genointerp"
    done = subprocess.run([str(cli), *args], capture_output=True, text=True, check=False)
    said = f": {done.stderr.strip()[-2000:]}" if done.returncode else ""
    check(done.returncode == 0, f"genointerp {' '.join(args)} exits 0{said}")
    return done.stdout


def main(repo: str) -> None:
    import genointerp as gi

    installed = Path(gi.__file__).resolve()
    check(Path(repo).resolve() not in installed.parents, f"genointerp imported from {installed}")
    check("ecoli_k12" in run("data", "list"), "genointerp data list names ecoli_k12")
    check("prokaryote" in run("concepts", "list"), "genointerp concepts list names prokaryote")
    check("cds" in run("concepts", "list", "prokaryote"), "the prokaryote catalog lists cds")
    for version in (None, *gi.models.SHIPPED):
        model = gi.models.load_model("tiny", version)
        acts = model.run("ACGT" * 64, [model.default_layer]).activations[model.default_layer]
        shape = tuple(acts.shape)
        check(
            shape == (1, 256, model.d_model) and bool(acts.isfinite().all()),
            f"the built-in model {model.model_id} runs from its shipped weights: {shape}",
        )
    assets = gi.view.asset_files()
    check(all(p.is_file() for p in assets.values()), f"viewer assets found: {sorted(assets)}")
    css = Path(gi.report.__file__).parent / "assets" / "report.css"
    check(css.is_file(), "the report's stylesheet ships")
    tracks = Path("wheel_check_concepts.h5")
    run("concepts", "build", "--dataset", "ecoli_k12", "-o", str(tracks))
    check(tracks.is_file(), "concept tracks built from the mirror with the shipped catalog")
    print("wheel check passed")


if __name__ == "__main__":
    main(sys.argv[1])
