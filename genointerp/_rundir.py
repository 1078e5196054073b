"""A run folder: the files one pipeline run writes, found by name, with the genome they share.

Every stage writes to a fixed place inside the run folder (the demo does; so can a user's
stage-by-stage commands).  ``run.json`` says where the genome came from, so that exports,
plots, the viewer and the report can read the sequence and the contig aliases::

    RUN/
      run.json             {"format": "genointerp-run", "version": ..., "dataset": name | null,
                            "genome": FASTA/GenBank path, "model_id", "layer"}
      concepts.h5          concept tracks                    (genointerp concepts build)
      activations.h5       activation store                  (genointerp extract)
      sae/                 SAE checkpoint, sae/eval.json     (genointerp sae train / eval)
      features.h5          sparse feature activations        (genointerp features encode)
      alignment/           alignment tables                  (genointerp align)
      baselines/           neurons/ and probe/ alignments    (genointerp demo --baselines)
      catalog/             catalog.h5ad, TSVs, logos         (genointerp rank)
      tracks/              browser files, tracks.json        (genointerp export)
      viewer/              igv.js page + feature explorer    (genointerp export / view)
      report/              HTML report                       (genointerp report)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ._atomic import atomic_path
from ._filekind import wrong_kind
from .errors import GenointerpError

RUN_FORMAT = "genointerp-run"
RUN_VERSION = "0.1.0"
RUN_FILE = "run.json"
BASELINES = ("neurons", "probe")  # RUN/baselines/<name>/: alignments of the raw activations

# name -> (place inside the run folder, the command that writes it)
LAYOUT = {
    "concepts": ("concepts.h5", "genointerp concepts build"),
    "activations": ("activations.h5", "genointerp extract"),
    "sae": ("sae", "genointerp sae train"),
    "features": ("features.h5", "genointerp features encode"),
    "alignment": ("alignment", "genointerp align"),
    "baselines": ("baselines", "genointerp demo --baselines"),
    "catalog": ("catalog", "genointerp rank"),
    "tracks": ("tracks", "genointerp export {run}"),
    "viewer": ("viewer", "genointerp view {run}"),
    "report": ("report", "genointerp report {run}"),
}


def write_run_info(folder: str | Path, **info) -> Path:
    """Write (or update) ``run.json`` in ``folder`` with ``info`` (JSON-able values)."""
    path = Path(folder) / RUN_FILE
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(info, format=RUN_FORMAT, version=RUN_VERSION)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(current, indent=2, default=str) + "\n")
    return path


@dataclass
class RunDir:
    """The run folder ``path``; :meth:`file` finds a stage's output or says which command
    makes it.

    Examples
    --------
    >>> run = RunDir("genointerp_demo")                  # doctest: +SKIP
    >>> run.file("catalog") / "catalog.tsv"              # doctest: +SKIP
    """

    path: Path

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            other = wrong_kind(self.path) if self.path.is_file() else ""
            what = f"is a file, not a run folder ({other})" if other else "no such run folder"
            raise GenointerpError(
                f"{self.path}: {what}. Fix: name the folder 'genointerp run' (or 'genointerp "
                "demo', or your stage commands) wrote"
            )

    @property
    def info(self) -> dict:
        """The contents of ``run.json`` ({} when the folder has none)."""
        path = self.path / RUN_FILE
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise GenointerpError(
                f"{path}: not valid JSON ({err}). Fix: delete it and run the stage again"
            ) from err

    def place(self, name: str) -> Path:
        """Where output ``name`` (a key of :data:`LAYOUT`) lives, whether or not it exists."""
        return self.path / LAYOUT[name][0]

    def has(self, name: str) -> bool:
        return self.place(name).exists()

    def file(self, name: str) -> Path:
        """The existing output ``name``; a clear error when the stage has not run."""
        place, command = LAYOUT[name]
        path = self.path / place
        if not path.exists():
            how = command.format(run=self.path) if "{run}" in command else f"{command} -o {path}"
            raise GenointerpError(
                f"{self.path}: no {place} in this run folder. Fix: run '{how}' first "
                f"(or 'genointerp demo -o {self.path}' for the whole pipeline)"
            )
        return path

    def baseline_concepts(self) -> dict:
        """``{name: concept table}`` of the baselines the run has (``RUN/baselines``)."""
        import pandas as pd

        tables = {}
        for name in BASELINES:
            path = self.place("baselines") / name / "concepts.tsv"
            if path.is_file():
                tables[name] = pd.read_csv(path, sep="\t")
        return tables

    def dataset_name(self) -> str | None:
        return self.info.get("dataset")

    def genome(self):
        """The run's genome: from its data set (with the manifest's aliases) or its file."""
        from .io import Genome

        info = self.info
        if info.get("dataset"):
            from .datasets import load

            return load(info["dataset"]).genome()
        if info.get("genome"):
            from .io import read_alias_table

            aliases = read_alias_table(info["aliases"]) if info.get("aliases") else None
            return Genome.open(info["genome"], aliases=aliases)
        raise GenointerpError(
            f"{self.path / RUN_FILE}: the run does not say which genome it used. Fix: "
            "write run.json with gi.io.write_run_info(RUN, genome=PATH) (or dataset=NAME), or "
            'add "genome": PATH to it'
        )

    def contig_aliases(self) -> dict[str, list[str]]:
        """``{contig: [aliases]}`` from the run's data-set manifest ({} without one)."""
        if not self.dataset_name():
            return {}
        from .datasets import get_manifest

        return get_manifest(self.dataset_name()).aliases


def relative_path(path: str | Path, start: str | Path) -> str:
    """``path`` relative to the folder ``start``, with ``/`` separators (for URLs and files
    that travel with their folder)."""
    import os

    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()
