"""Shared fixtures: fixed seeds, an isolated cache, offline mode, and the reference-data mirror."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.slurm_cluster import slurm_cluster  # noqa: F401 - the SLURM test cluster fixture

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fixed_seeds():
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code that uses the legacy global RNG


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test session gets its own cache, and nothing is ever downloaded."""
    cache = tmp_path_factory.mktemp("genointerp-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("GENOINTERP_CACHE", str(cache))
    patch.setenv("GENOINTERP_OFFLINE", "1")
    yield cache
    patch.undo()


def require_program(name: str, package: str) -> None:
    """Skip a test whose Debian program is missing; under CI=true (where .ci/run installs it)
    fail instead."""
    if shutil.which(name) is None:
        message = f"the program {name} is not installed: apt-get install {package}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The reference-data mirror; under CI=true a missing mirror fails instead of skipping."""
    path = Path(os.environ.get("GENOINTERP_DATA_MIRROR") or REPO.parent / "shared" / "data")
    if not (path / "ecoli_k12").is_dir():
        message = (
            f"reference data mirror not found at {path}: set GENOINTERP_DATA_MIRROR to the "
            "folder holding the public data sets (../shared/data on project machines)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    patch = pytest.MonkeyPatch()
    patch.setenv("GENOINTERP_DATA_MIRROR", str(path))
    yield path
    patch.undo()


@pytest.fixture(scope="session")
def ecoli(mirror):
    """E. coli K-12: (genome, concept tracks) built once per session."""
    import genointerp as gi

    dataset = gi.datasets.load("ecoli_k12")
    genome = dataset.genome()
    return genome, gi.concepts.build(genome, "prokaryote", dataset.annotation_table(genome))


@pytest.fixture
def tiny_gff3() -> Path:
    return DATA / "tiny.gff3"


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """A complete run folder on a synthetic genome (tests/run_fixture.py), built once.

    Read-only: a test that writes into a run folder uses ``run_copy``.
    """
    from tests.run_fixture import build_small_run

    return build_small_run(tmp_path_factory.mktemp("small_run") / "run")


@pytest.fixture
def run_copy(small_run, tmp_path) -> Path:
    """A private copy of ``small_run`` (without its activation store) to write into."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(small_run, copy, ignore=shutil.ignore_patterns("activations.h5"))
    return copy


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright's Python client (no browser download).

    Skips when Chromium or Playwright is missing, except under CI=true, where it fails:
    .ci/run installs both.
    """
    from genointerp.view import find_chromium

    path = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path = None
    if path is None:
        message = "headless Chromium not found (apt-get install chromium; pip install playwright)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(path), args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        yield browser
        browser.close()
