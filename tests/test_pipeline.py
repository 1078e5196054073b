"""``gi.pipeline`` and ``genointerp run``: config checks, skipping, re-running, locking."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

import genointerp as gi
from genointerp.cli import main
from genointerp.errors import ConfigError, GenointerpError
from genointerp.pipeline._state import run_lock
from tests.pipeline_fixture import write_config


def _mtimes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file()
        and ".pipeline" not in p.parts
        and "logs" not in p.parts
        and p.name not in ("run.json", "config.yaml", ".genointerp.lock")
    }


@pytest.fixture(scope="module")
def small_pipeline(tmp_path_factory):
    """A finished run of the small config (every stage, report included)."""
    folder = tmp_path_factory.mktemp("pipeline")
    path = write_config(folder)
    config = gi.pipeline.load_config(path)
    summary = gi.pipeline.run(config, progress=False, echo=lambda _: None)
    assert summary.ran() == list(gi.pipeline.STAGES)
    return path, Path(config.output)


def test_run_writes_every_stage_with_records(small_pipeline):
    path, run = small_pipeline
    for place in (
        "concepts.h5",
        "activations.h5",
        "sae/cfg.json",
        "sae/eval.json",
        "features.h5",
        "alignment",
        "catalog/catalog.h5ad",
        "tracks/tracks.json",
        "viewer/index.html",
        "report/index.html",
    ):
        assert (run / place).exists(), place
    info = json.loads((run / "run.json").read_text())
    for stage in gi.pipeline.STAGES:
        timing = next(iter(info["stages"][stage].values()))
        assert timing["seconds"] > 0 and timing["peak_memory_mb"] > 50
        log = run / "logs" / (f"{stage}.log" if stage == "sae" else f"{stage}.g0.log")
        assert f"stage {log.stem} finished" in log.read_text()
    assert "concepts g0:" in (run / "logs" / "concepts.g0.log").read_text()
    # the resolved config reads back as the same settings, paths made absolute
    again = gi.pipeline.load_config(run / "config.yaml")
    assert again.to_dict() == gi.pipeline.load_config(path).to_dict()
    assert Path(again.genomes[0].sequence).is_absolute()


def test_second_run_skips_everything(small_pipeline):
    path, run = small_pipeline
    before = _mtimes(run)
    lines = []
    summary = gi.pipeline.run(gi.pipeline.load_config(path), progress=False, echo=lines.append)
    assert summary.ran() == []
    assert all(line.endswith("up to date") for line in lines)
    assert _mtimes(run) == before


def test_changed_setting_reruns_that_stage_and_what_follows(small_pipeline, tmp_path):
    path, run = small_pipeline
    copy = tmp_path / "copy"
    shutil.copytree(run.parent, copy, symlinks=True)
    config_path = copy / path.name
    config = gi.pipeline.load_config(config_path, {"output": str(copy / run.name)})
    root = Path(config.output)
    plan = gi.pipeline.run(config, dry_run=True, echo=lambda _: None)
    assert plan.ran() == []  # copied folders keep their records: nothing to do
    changed = gi.pipeline.load_config(
        config_path, {"output": str(root), "align.n_shifts": 30, "report.report": False}
    )
    lines = []
    plan = gi.pipeline.run(changed, dry_run=True, echo=lines.append)
    actions = {s.stage: s.action for s in plan.steps}
    assert actions["sae"] == "up to date" and actions["align"] == "rerun"
    assert actions["rank"] == "run after align"
    before = _mtimes(root)
    summary = gi.pipeline.run(changed, progress=False, echo=lambda _: None)
    assert summary.ran() == ["align", "rank", "export", "report"]
    after = _mtimes(root)
    assert after["features.h5"] == before["features.h5"]
    assert after["alignment/concepts.tsv"] != before["alignment/concepts.tsv"]
    assert not (root / "report").exists()  # report.report false: the old report is gone
    # an output removed by hand makes its stage run again
    shutil.rmtree(root / "catalog")
    assert gi.pipeline.run(changed, progress=False, echo=lambda _: None).ran() == [
        "rank",
        "export",
        "report",
    ]


def test_only_needs_its_inputs(tmp_path):
    path = write_config(tmp_path)
    with pytest.raises(GenointerpError, match=r"needs the outputs of extract .*--only extract"):
        gi.pipeline.run(gi.pipeline.load_config(path), only="sae", echo=lambda _: None)


def test_a_stage_killed_once_marked_done_has_its_timing_in_run_json(tmp_path, monkeypatch):
    """Killed right after its record says "done", a stage is skipped by the next run, so
    run.json must already hold its timing (a random SIGKILL in test_faults once hit the gap)."""
    from genointerp.pipeline import _state

    put = _state.Records.put

    def put_then_die(self, key, record):
        put(self, key, record)
        if record["state"] == "done":
            raise SystemExit("killed")

    config = gi.pipeline.load_config(write_config(tmp_path))
    monkeypatch.setattr(_state.Records, "put", put_then_die)
    with pytest.raises(SystemExit):
        gi.pipeline.run(config, only="concepts", progress=False, echo=lambda _: None)
    monkeypatch.setattr(_state.Records, "put", put)
    summary = gi.pipeline.run(config, only="concepts", progress=False, echo=lambda _: None)
    assert summary.ran() == []  # up to date: skipped
    info = json.loads((Path(config.output) / "run.json").read_text())
    assert set(info["stages"]) == {"concepts"}


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    path = write_config(tmp_path)
    config = gi.pipeline.load_config(path)
    refused = pytest.raises(GenointerpError, match="another genointerp run is writing")
    with run_lock(Path(config.output)), refused:
        gi.pipeline.run(config, only="concepts", echo=lambda _: None)
    # shard tasks share the folder but not a shard
    with run_lock(Path(config.output), "extract.shard-0"):
        with run_lock(Path(config.output), "extract.shard-1"):
            pass
        refused = pytest.raises(GenointerpError, match="another genointerp run")
        with refused, run_lock(Path(config.output), "extract.shard-0"):
            pass


BAD = [
    ({"align": {"nshifts": 3}}, r"unknown key 'nshifts' in config.align.*did you mean 'n_shifts'"),
    ({"align": {"n_shifts": "many"}}, r"config.align.n_shifts is 'many', expected int"),
    ({"extract": {"window": -5}}, r"window is -5, must be at least 0"),
    ({"extract": {"model": "gpt"}}, r"model 'gpt' is not one of .*tiny"),
    ({"extract": {"layer": "blocks.99"}}, r"no layer 'blocks.99'.*layers are embed, blocks.0"),
    (
        {
            "genomes": [
                {"sequence": "missing.fa", "annotations": ["a.gff3"], "catalog": "prokaryote"}
            ]
        },
        r"genomes\[0\].sequence 'missing.fa' does not exist",
    ),
    ({"genomes": [{"dataset": "ecoli_k12", "sequence": "x.fa"}]}, r"exactly one of 'dataset'"),
    ({"sae": {"train": {"tokens": 10}}}, r"tokens \(10\) must be at least one batch"),
    ({"rank": {"alpha": 2}}, r"alpha in \(0, 1\)"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_config_fails_before_any_work(tmp_path, capsys, change, message):
    path = write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    for key, value in change.items():
        data[key] = value if key == "genomes" else {**data.get(key, {}), **value}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()  # nothing written


def test_config_line_numbers_and_overrides(tmp_path):
    path = write_config(tmp_path)
    text = path.read_text().replace("n_shifts: 20", "n_shift: 20")
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "n_shift:" in t)
    with pytest.raises(ConfigError, match=f"line {line}"):
        gi.pipeline.load_config(path)
    fixed = gi.pipeline.load_config(
        write_config(tmp_path / "b"),
        gi.pipeline.parse_overrides(["align.n_shifts=7", "extract.strands=[+]"]),
    )
    assert fixed.align.n_shifts == 7 and fixed.extract.strands == ["+"]
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        gi.pipeline.parse_overrides(["align.n_shifts"])


def test_demo_is_the_shipped_config(mirror, tmp_path, capsys):
    config = gi.pipeline.load_config(gi.pipeline.shipped_config("demo"))
    assert [g.dataset for g in config.genomes] == ["ecoli_k12"]
    assert config.align.n_shifts == 200 and config.sae.train.tokens == 2_000_000
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--shifts", "50", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(gi.pipeline.STAGES)
    assert "run" in lines[0] and not out.exists()


def test_docs_reference_is_current():
    text = (Path(__file__).parent.parent / "docs" / "pipeline.md").read_text()
    begin = "<!-- config reference: generated by docs/make_pipeline_reference.py -->\n"
    section = text.split(begin)[1].split("<!-- end of config reference -->")[0]
    assert section == gi.pipeline.config_reference(), "run python docs/make_pipeline_reference.py"
    for key in ("genomes[].heldout", "extract.shards", "sae.train.sae.k", "slurm.partition"):
        assert f"| `{key}` |" in section


def _datasets(path: Path) -> dict:
    import h5py
    import numpy as np

    out = {}
    with h5py.File(path) as h5:
        h5.visititems(
            lambda name, obj: (
                out.__setitem__(name, np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


def test_several_genomes_one_held_out_with_shards(small_pipeline, tmp_path):
    """The SAE trains on g0 only; g1 is aligned as the unseen genome; sharded extraction and
    encoding give the same activations and features as the unsharded single-genome run."""
    import numpy as np

    path = write_config(
        tmp_path,
        genomes=2,
        extract={"model": "tiny", "layer": "blocks.3", "shards": 2},
        encode={"shards": 2},
        report={"report": False},
    )
    config = gi.pipeline.load_config(path)
    summary = gi.pipeline.run(config, progress=False, echo=lambda _: None)
    root = Path(config.output)
    assert [s.genome for s in summary.steps if s.stage == "align"] == ["g0", "g1"]
    for name in ("g0", "g1"):
        folder = root / "genomes" / name
        assert (folder / "catalog" / "catalog.h5ad").is_file()
        assert (folder / "viewer" / "index.html").is_file()
        assert (folder / "sae" / "cfg.json").is_file()  # the shared SAE, seen from each genome
        assert not list(folder.glob("*.shard-*"))  # shards merged and removed
        assert json.loads((root / "sae" / f"eval.{name}.json").read_text())["fvu"] > 0
    cfg = json.loads((root / "sae" / "cfg.json").read_text())
    trained_on = json.dumps(cfg)
    assert "genomes/g0/activations.h5" in trained_on and "genomes/g1/" not in trained_on
    single = small_pipeline[1]  # the same genome g0, unsharded, same SAE settings
    for name in ("activations.h5", "features.h5"):
        sharded, whole = _datasets(root / "genomes" / "g0" / name), _datasets(single / name)
        assert sharded.keys() == whole.keys()
        for key, values in whole.items():
            if not key.startswith("stats_"):  # two ledger slots; the reader picks the current
                np.testing.assert_array_equal(sharded[key], values, err_msg=f"{name}:{key}")
    with (
        gi.features.FeatureActivations(root / "genomes" / "g0" / "features.h5") as sharded,
        gi.features.FeatureActivations(single / "features.h5") as whole,
    ):
        pd.testing.assert_frame_equal(sharded.stats.table(), whole.stats.table())


def test_streamed_sae_writes_no_store_for_training_only_genomes(tmp_path):
    """sae.stream: the SAE reads the model's activations of g0 and g1 as they are made; only
    the aligned genome (g1) is extracted, for encoding."""
    path = write_config(tmp_path, genomes=2, report={"report": False, "viewer": False})
    data = yaml.safe_load(path.read_text())
    data["genomes"][0]["align"] = False
    data["genomes"][1]["heldout"] = False
    data["sae"]["stream"] = True
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    config = gi.pipeline.load_config(path)
    summary = gi.pipeline.run(config, progress=False, echo=lambda _: None)
    root = Path(config.output)
    assert [(s.stage, s.genome) for s in summary.steps if s.stage == "extract"] == [
        ("extract", "g1")
    ]
    assert not (root / "genomes" / "g0").exists()  # nothing at all of g0
    assert [p.relative_to(root) for p in root.rglob("activations*")] == [
        Path("genomes/g1/activations.h5")
    ]
    store = json.loads((root / "sae" / "cfg.json").read_text())["genointerp"]["provenance"]
    assert store["store"].startswith("streamed from tiny:") and "g0.fa" in store["store"]
    assert (root / "genomes" / "g1" / "catalog" / "catalog.h5ad").is_file()
    assert json.loads((root / "sae" / "eval.g1.json").read_text())["fvu"] < 1.5
