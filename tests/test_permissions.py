"""Outputs take the user's umask, like any other tool's: files 0666 and folders 0777 less it.

Temporary files (``mkstemp``: 0600) and folders (``mkdtemp``: 0700) renamed into place used
to keep their private modes, so collaborators and the web server behind a track hub could
not read a run.  A run folder is built in a subprocess (the umask is per process) under
umask 022 and 002, exported, given its viewer and report, a `genointerp run` stage runs beside
it, and every mode is checked.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from genointerp._atomic import atomic_open, atomic_path, current_umask, make_temp_folder
from tests.conftest import REPO

# Builds, exports and reports a run under the umask given, in a fresh process.
_BUILD = r"""
import os, sys
from pathlib import Path
os.umask(int(sys.argv[2], 8))
folder = Path(sys.argv[1])
os.environ["GENOINTERP_CACHE"] = str(folder / "cache")
import genointerp as gi
from tests.run_fixture import build_small_run
run = build_small_run(folder / "run")
gi.export.export_run(run, progress=False)
gi.view.write_viewer(run)
gi.report.write_report(run, figures=sys.argv[3] == "figures")
config = folder / "pipeline.yaml"
config.write_text(
    f"genomes:\n  - sequence: {run / 'genome.fa'}\n    annotations: [{run / 'annotation.gff3'}]\n"
    f"    catalog: prokaryote\noutput: {folder / 'pipeline'}\n"
)
from genointerp.cli import main
assert main(["-q", "run", str(config), "--only", "concepts"]) == 0
"""


def _modes(folder: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(files, folders) under ``folder``: relative path -> permission bits."""
    files, folders = {}, {}
    for root, dirs, names in os.walk(folder):
        for name in dirs:
            path = Path(root, name)
            folders[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
        for name in names:
            path = Path(root, name)
            files[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return files, folders


@pytest.mark.slow
@pytest.mark.parametrize(("umask", "figures"), [(0o022, "figures"), (0o002, "no-figures")])
def test_run_outputs_follow_the_umask(tmp_path, umask, figures):
    env = os.environ | {"PYTHONPATH": str(REPO), "GENOINTERP_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(tmp_path), f"{umask:o}", figures],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    files, folders = _modes(tmp_path)
    # the run, its export (tracks/), viewer, report and the packed-genome cache
    expected = ["sae/sae_weights.safetensors", "activations.h5", "tracks/hub/hub.txt",
                "viewer/data.js", "report/index.html", "catalog/catalog.h5ad"]  # fmt: skip
    for part in expected:
        assert f"run/{part}" in files, sorted(files)
    assert "pipeline/config.yaml" in files, sorted(files)  # a `genointerp run` folder too
    assert any(p.startswith("pipeline/") and p.endswith(".h5") for p in files), sorted(files)
    assert len(files) > 60, len(files)
    assert any(name.startswith("cache/genomes/") for name in folders), sorted(folders)
    wrong_files = {p: oct(m) for p, m in files.items() if m != 0o666 & ~umask}
    wrong_folders = {p: oct(m) for p, m in folders.items() if m != 0o777 & ~umask}
    assert not wrong_files, wrong_files
    assert not wrong_folders, wrong_folders
    assert not [p for p in files if Path(p).name.startswith(".tmp-")]  # nothing half-written


@pytest.fixture
def umask_027():
    """Run the test body under umask 027 (process-wide), restoring the old one after."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def test_atomic_writes_take_the_umask(tmp_path, umask_027):
    assert current_umask() == umask_027
    with atomic_open(tmp_path / "a.txt") as handle:
        handle.write("x")
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.unlink()  # a writer that replaces the file (as safetensors does) gets it too
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    with atomic_path(tmp_path / "job.sh") as tmp:
        tmp.write_text("#!/bin/sh\n")
        tmp.chmod(0o700)  # a script its writer made executable stays executable
    folder = make_temp_folder(tmp_path, ".tmp-x.")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "job.sh").stat().st_mode) == 0o750
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_failed_atomic_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "a.txt") as handle:
        handle.write("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
