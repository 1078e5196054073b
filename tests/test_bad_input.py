"""Bad input over the command line: one line on stderr, exit status 1, no traceback, no output.

For every command that reads a user's file, each malformed or wrong-kind file gives exactly
one line on stderr that names the file (and the line or record when there is one), says what
is wrong (a file of another kind is named as that kind: "it looks like a GFF3 file") and how
to fix it; the command exits with status 1 and leaves nothing at its output path.  The CLI
runs in-process (``genointerp.cli.main``); a few cases run the real console script to see the
exit status and the whole of stderr, logging included.
"""

from __future__ import annotations

import gzip
import random
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import genointerp as gi
from genointerp.cli import build_parser, main
from tests.builders import random_sequence, random_tiny
from tests.conftest import REPO

LAYER = "blocks.1"
SEQS = {"chrA": random_sequence(3000, seed=1), "chrB": random_sequence(1500, seed=2)}


@dataclass
class Good:
    """Valid inputs of every kind, so each case breaks exactly one."""

    root: Path
    fasta: Path
    gff3: Path
    store: Path
    sae: Path
    tracks: Path
    features: Path
    alignment: Path


def _gff3() -> str:
    lines = ["##gff-version 3"]
    for contig, seq in SEQS.items():
        for i, start in enumerate(range(100, len(seq) - 400, 500)):
            strand, gene = "+-"[i % 2], f"{contig}g{i}"
            lines.append(f"{contig}\tt\tgene\t{start}\t{start + 299}\t.\t{strand}\t.\tID={gene}")
            cds = f"{contig}\tt\tCDS\t{start}\t{start + 299}\t.\t{strand}\t0"
            lines.append(f"{cds}\tID=c{gene};Parent={gene}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Good:
    """Tiny genome, annotations, store, SAE, tracks, features and alignment (a few seconds)."""
    root = tmp_path_factory.mktemp("good")
    fasta = root / "genome.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in SEQS.items()))
    gff3 = root / "annotation.gff3"
    gff3.write_text(_gff3())
    genome = gi.io.Genome.open(fasta)
    model = random_tiny(d_model=8, seed=3)
    store = gi.acts.extract(genome, model, [LAYER], root / "acts.h5", progress=False)
    torch.manual_seed(0)
    sae = gi.sae.build_sae(gi.sae.SAEConfig(architecture="relu", d_sae=16, k=4), 8)
    provenance = gi.sae.Provenance(model_id=model.model_id, layer=LAYER, d_model=8)
    sae_dir = gi.sae.save_sae(sae, root / "sae", provenance)
    tracks = gi.concepts.build(genome, "prokaryote", gi.io.annotation_table(gff3, genome))
    tracks.write(root / "concepts.h5")
    features = gi.features.encode(store, sae_dir, root / "features.h5", tracks=tracks)
    split = gi.align.BlockSplit(block=500)
    result = gi.align.align(features, tracks, split=split, n_shifts=20, max_tests=2)
    result.write(root / "alignment")
    features.close()
    paths = [root / name for name in ("concepts.h5", "features.h5", "alignment")]
    return Good(root, fasta, gff3, store, sae_dir, *paths)


# -- bad files: each maker writes one into a folder and returns its path ----------------------
Maker = Callable[[Path, Good], Path]
_NOISE = random.Random(0).randbytes(3000)


def _write(name: str, content: bytes | str) -> Maker:
    def make(folder: Path, good: Good) -> Path:
        path = folder / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return make


def _copy_of(attr: str, name: str, cut: float | None = None) -> Maker:
    """A copy of one of the good files (cut to a fraction of its bytes: truncated)."""

    def make(folder: Path, good: Good) -> Path:
        data = getattr(good, attr).read_bytes()
        path = folder / name
        path.write_bytes(data[: int(len(data) * cut)] if cut else data)
        return path

    return make


def _sae_dir(
    weights: Callable[[Good], bytes] | None = None, cfg: str | None = None, drop_cfg: bool = False
) -> Maker:
    """An SAE folder with its weights and/or cfg.json replaced."""

    def make(folder: Path, good: Good) -> Path:
        path = folder / "sae"
        path.mkdir()
        source = good.sae / "sae_weights.safetensors"
        (path / "sae_weights.safetensors").write_bytes(
            weights(good) if weights else source.read_bytes()
        )
        if not drop_cfg:
            text = cfg if cfg is not None else (good.sae / "cfg.json").read_text()
            (path / "cfg.json").write_text(text)
        return path

    return make


def _half_weights(good: Good) -> bytes:
    data = (good.sae / "sae_weights.safetensors").read_bytes()
    return data[: len(data) // 2]


def _wrong_shapes(good: Good) -> bytes:
    from safetensors.torch import save

    names = {"W_enc": (3, 3), "W_dec": (3, 3), "b_enc": (3,), "b_dec": (3,)}
    return save({name: torch.zeros(shape) for name, shape in names.items()})


_WHOLE_GZ = gzip.compress(("".join(f">{k}\n{v}\n" for k, v in SEQS.items()) * 40).encode())
GENOMES: dict[str, tuple[Maker, list[str]]] = {
    "missing": (lambda folder, good: folder / "nowhere.fa", [r"no such file|not found"]),
    "empty": (_write("g.fa", b""), [r"is empty"]),
    "binary": (_write("g.fa", _NOISE), [r"binary data"]),
    "bad-characters": (
        _write("g.fa", ">chrA\nACGT\nACGT!!ACGT\n"),
        [r"line 3", r"record 'chrA'", r"non-nucleotide character '!'"],
    ),
    "truncated-gzip": (
        _write("g.fa.gz", _WHOLE_GZ[:600]),
        [r"truncated"],
    ),
    "truncated-genbank": (
        _write("g.gb", "LOCUS       chrA  20 bp DNA linear\nORIGIN\n        1 acgtacgtac\n"),
        [r"truncated"],
    ),
    "gff3-given-as-genome": (_copy_of("gff3", "genes.gff3"), [r"looks like a GFF3 file"]),
    "store-given-as-genome": (
        _copy_of("store", "acts.h5"),
        [r"HDF5 file \(a genointerp activation store\)"],
    ),
}

ANNOTATIONS: dict[str, tuple[Maker, list[str]]] = {
    "gff3-bad-columns": (
        _write("a.gff3", "##gff-version 3\nchrA\tt\tgene\t10\n"),
        [r"line 2", r"GFF3 needs 9"],
    ),
    "gff3-past-contig-end": (
        _write("a.gff3", "##gff-version 3\nchrA\tt\tgene\t10\t9999\t.\t+\t.\tID=g\n"),
        [r"line 2", r"past the contig's end"],
    ),
    "gff3-unknown-contig": (
        _write("a.gff3", "##gff-version 3\nchrZ\tt\tgene\t10\t99\t.\t+\t.\tID=g\n"),
        [r"line 2", r"'chrZ' is not in the genome"],
    ),
    "bed-bad-columns": (_write("a.bed", "chrA\t10\n"), [r"line 1", r"BED needs at least 3"]),
    "bed-past-contig-end": (
        _write("a.bed", "chrA\t10\t9999\tx\t0\t+\n"),
        [r"line 1", r"past the contig's end"],
    ),
    "bed-unknown-contig": (
        _write("a.bed", "chrQ\t10\t99\tx\t0\t+\n"),
        [r"line 1", r"'chrQ' is not in the genome"],
    ),
    "empty": (_write("a.gff3", b""), [r"is empty"]),
    "binary": (_write("a.gff3", _NOISE), [r"binary data"]),
    "fasta-given-as-annotations": (_copy_of("fasta", "a.gff3"), [r"looks like a FASTA file"]),
    "store-given-as-annotations": (_copy_of("store", "a.bed"), [r"looks like an HDF5 file"]),
}

YAML_FILES: dict[str, tuple[Maker, list[str]]] = {
    "bad-yaml": (_write("c.yaml", "a: [1,\nb: {\n"), [r"line \d", r"not valid YAML"]),
    "fasta-given-as-yaml": (_copy_of("fasta", "c.yaml"), [r"looks like a FASTA file"]),
    "gff3-given-as-yaml": (_copy_of("gff3", "c.yaml"), [r"looks like a GFF3 file"]),
    "binary": (_write("c.yaml", _NOISE), [r"binary data"]),
}
CATALOGS = YAML_FILES | {
    "unknown-key": (
        _write("c.yaml", "catalog: x\nbogus: 1\n"),
        [r"line 2", r"unknown key 'bogus'"],
    ),
    "empty": (_write("c.yaml", ""), [r"must be a mapping"]),
}

STORES: dict[str, tuple[Maker, list[str]]] = {
    "truncated": (_copy_of("store", "s.h5", cut=0.05), [r"truncated or corrupt"]),
    "empty": (_write("s.h5", b""), [r"is empty"]),
    "random-bytes": (_write("s.h5", _NOISE), [r"not an activation store"]),
    "features-given-as-store": (_copy_of("features", "s.h5"), [r"feature-activations"]),
    "tracks-given-as-store": (_copy_of("tracks", "s.h5"), [r"concept-tracks"]),
    "fasta-given-as-store": (_copy_of("fasta", "s.h5"), [r"looks like a FASTA file"]),
}

SAES: dict[str, tuple[Maker, list[str]]] = {
    "random-safetensors": (_sae_dir(weights=lambda g: _NOISE), [r"not a readable safetensors"]),
    "truncated-safetensors": (_sae_dir(weights=_half_weights), [r"truncated or corrupt"]),
    "wrong-shapes": (_sae_dir(weights=_wrong_shapes), [r"tensor 'W_enc' has shape \(3, 3\)"]),
    "cfg-missing": (_sae_dir(drop_cfg=True), [r"needs cfg.json"]),
    "cfg-bad-json": (_sae_dir(cfg="{not json"), [r"cfg.json", r"not valid JSON \(line 1"]),
    "store-given-as-sae": (_copy_of("store", "sae.h5"), [r"looks like an HDF5 file"]),
}

TRACKS: dict[str, tuple[Maker, list[str]]] = {
    "truncated": (_copy_of("tracks", "t.h5", cut=0.3), [r"truncated or corrupt"]),
    "empty": (_write("t.h5", b""), [r"is empty"]),
    "store-given-as-tracks": (_copy_of("store", "t.h5"), [r"activation-store"]),
    "fasta-given-as-tracks": (_copy_of("fasta", "t.h5"), [r"looks like a FASTA file"]),
}

FEATURES: dict[str, tuple[Maker, list[str]]] = {
    "truncated": (_copy_of("features", "f.h5", cut=0.3), [r"truncated or corrupt"]),
    "empty": (_write("f.h5", b""), [r"is empty"]),
    "store-given-as-features": (_copy_of("store", "f.h5"), [r"activation-store"]),
    "gff3-given-as-features": (_copy_of("gff3", "f.h5"), [r"looks like a GFF3 file"]),
}


# -- commands: templates filled with the bad file {bad}, the good inputs and {out} ------------
RANK = "rank --alignment {alignment} --features {features} --tracks {tracks} --genome {fasta}"
GENOME_COMMANDS = {
    "concepts-build": "concepts build --genome {bad} --annotations {gff3} --catalog prokaryote "
    "-o {out}/tracks.h5",
    "extract": "extract --genome {bad} -o {out}/acts.h5",
    "rank": RANK.replace("{fasta}", "{bad}") + " -o {out}/rank",
}
ANNOTATION_COMMANDS = {
    "concepts-build": "concepts build --genome {fasta} --annotations {bad} --catalog prokaryote "
    "-o {out}/tracks.h5",
}
CATALOG_COMMANDS = {
    "concepts-build": "concepts build --genome {fasta} --annotations {gff3} --catalog {bad} "
    "-o {out}/tracks.h5",
    "concepts-list": "concepts list {bad}",
}
STORE_COMMANDS = {
    "sae-train": "sae train --store {bad} -o {out}/sae",
    "sae-eval": "sae eval {sae} --store {bad} -o {out}/m.json",
    "features-encode": "features encode --store {bad} --sae {sae} -o {out}/f.h5",
    "acts-info": "acts info {bad}",
    "acts-merge": "acts merge {bad} -o {out}/m.h5",
    "align-neurons": "align --neurons {bad} --tracks {tracks} -o {out}/al",
    "sae-import-calibrate": "sae import {sae} --format saelens --calibrate-store {bad} "
    "-o {out}/sae",
}
SAE_COMMANDS = {
    "sae-eval": "sae eval {bad} --store {store} -o {out}/m.json",
    "features-encode": "features encode --store {store} --sae {bad} -o {out}/f.h5",
    "sae-import-saelens": "sae import {bad} --format saelens -o {out}/sae",
    "rank": RANK + " --sae {bad} -o {out}/rank",
}
TRACK_COMMANDS = {
    "concepts-bed": "concepts bed {bad} -o {out}/bed",
    "concepts-summary": "concepts summary {bad}",
    "align": "align --features {features} --tracks {bad} -o {out}/al",
    "features-encode": "features encode --store {store} --sae {sae} --tracks {bad} -o {out}/f.h5",
    "rank": RANK.replace("{tracks}", "{bad}") + " -o {out}/rank",
}
FEATURE_COMMANDS = {
    "align": "align --features {bad} --tracks {tracks} -o {out}/al",
    "rank": RANK.replace("{features}", "{bad}") + " -o {out}/rank",
}


def _cases(commands: dict[str, str], files: dict[str, tuple[Maker, list[str]]]):
    return [
        pytest.param(template, make, phrases, id=f"{command}-{kind}")
        for command, template in commands.items()
        for kind, (make, phrases) in files.items()
    ]


CASES = (
    _cases(GENOME_COMMANDS, GENOMES)
    + _cases(ANNOTATION_COMMANDS, ANNOTATIONS)
    + _cases(CATALOG_COMMANDS, CATALOGS)
    + _cases(STORE_COMMANDS, STORES)
    + _cases(SAE_COMMANDS, SAES)
    + _cases(TRACK_COMMANDS, TRACKS)
    + _cases(FEATURE_COMMANDS, FEATURES)
)


def fill(template: str, bad: Path, good: Good, out: Path) -> list[str]:
    """The argv of a command template (no paths here hold spaces)."""
    return [word.format(bad=bad, out=out, **vars(good)) for word in template.split()]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """``genointerp ARGV`` in-process: (exit status, stderr)."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse and explicit exits
        code = exit_.code if isinstance(exit_.code, int) else 1
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, path: Path, phrases: list[str]) -> str:
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("genointerp ") and ": error: " in line, line
    assert "Traceback" not in err
    assert str(path) in line, f"{path} not named in {line!r}"
    assert "Fix:" in line, line
    for phrase in phrases:
        assert re.search(phrase, line), f"{phrase!r} not in {line!r}"
    return line


def assert_no_output(out: Path) -> None:
    """Nothing written under the output folder: no results, partial files or temporaries."""
    assert not out.exists() or not list(out.rglob("*")), sorted(out.rglob("*"))


@pytest.mark.parametrize(("template", "make", "phrases"), CASES)
def test_bad_file_gives_one_line_and_no_output(good, tmp_path, capsys, template, make, phrases):
    bad = make(tmp_path, good)
    out = tmp_path / "out"
    code, err = run_cli(fill(template, bad, good, out), capsys)
    assert_one_line_error(code, err, bad, phrases)
    assert_no_output(out)


# -- configs: sae train, lm train, run (and slurm once it is registered) -------------------
def _commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
    return set(sub.choices)


def _run_config(body: str) -> Maker:
    """A pipeline config over the good genome with ``body`` appended."""

    def make(folder: Path, good: Good) -> Path:
        path = folder / "run.yaml"
        path.write_text(
            f"genomes:\n  - sequence: {good.fasta}\n    annotations: [{good.gff3}]\n"
            f"    catalog: prokaryote\noutput: {folder / 'out'}\n{body}"
        )
        return path

    return make


CONFIG_COMMANDS = {
    "sae-train": "sae train --config {bad} --store {store} -o {out}/sae",
    "lm-train": "lm train --config {bad} -o {out}/lm",
    "run": "run {bad} -o {out}/run",
}
if "slurm" in _commands():
    CONFIG_COMMANDS["slurm"] = "slurm {bad} -o {out}/run"
SPECIFIC = {  # (unknown key, wrong type) per command
    "sae-train": ("sae:\n  bogus: 1\n", "sae:\n  k: many\n"),
    "lm-train": ("bogus: 1\n", "steps: many\n"),
    "run": ("align:\n  n_shift: 3\n", "align:\n  n_shifts: many\n"),
    "slurm": ("align:\n  n_shift: 3\n", "align:\n  n_shifts: many\n"),
}


def _config_cases():
    cases = _cases(CONFIG_COMMANDS, YAML_FILES)
    for command, template in CONFIG_COMMANDS.items():
        unknown, wrong = SPECIFIC[command]
        as_run = command in ("run", "slurm")
        make = _run_config if as_run else lambda text: _write("c.yaml", text)
        key = "n_shift" if as_run else "bogus"
        unknown_phrases = [rf"unknown key '{key}'", r"line \d"]
        wrong_phrases = [r"'many'", r"expected int", r"line \d"]
        cases.append(pytest.param(template, make(unknown), unknown_phrases, id=f"{command}-key"))
        cases.append(pytest.param(template, make(wrong), wrong_phrases, id=f"{command}-type"))
    return cases


@pytest.mark.parametrize(("template", "make", "phrases"), _config_cases())
def test_bad_config_gives_one_line_and_no_output(good, tmp_path, capsys, template, make, phrases):
    bad = make(tmp_path, good)
    out = tmp_path / "out"
    code, err = run_cli(fill(template, bad, good, out), capsys)
    assert_one_line_error(code, err, bad, phrases)
    assert_no_output(out)


def test_run_with_a_malformed_genome_writes_no_stage_output(good, tmp_path, capsys):
    genome = tmp_path / "g.fa"
    genome.write_text(">chrA\nACGT\nACGT!!ACGT\n")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"genomes:\n  - sequence: {genome}\n    annotations: [{good.gff3}]\n"
        "    catalog: prokaryote\n"
    )
    out = tmp_path / "out"
    code, err = run_cli(["run", str(config), "-o", str(out), "--only", "concepts"], capsys)
    assert_one_line_error(code, err, genome, [r"line 3", r"record 'chrA'"])
    written = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix in (".h5", ".bed") or ".tmp-" in p.name], written


# -- goodfire checkpoints, aliases, motifs, alignments, run folders -------------------------
def _truncated_checkpoint(folder: Path, good: Good) -> Path:
    """A Goodfire-style state dict cut short: corrupt, not unsafe."""
    path = folder / "sae.pt"
    torch.save({"W": torch.zeros(8, 16), "b_enc": torch.zeros(16), "b_dec": torch.zeros(8)}, path)
    path.write_bytes(path.read_bytes()[:700])
    return path


def _sae_weights(folder: Path, good: Good) -> Path:
    return good.sae / "sae_weights.safetensors"


def _model_dir(config: str | None = None, weights: bytes | None = None) -> Maker:
    """A copy of the shipped built-in model with its config.json or weights replaced."""

    def make(folder: Path, good: Good) -> Path:
        shipped = gi.models._tiny.default_weights_dir()  # noqa: SLF001
        path = folder / "model"
        path.mkdir()
        for name in ("config.json", "model.safetensors"):
            (path / name).write_bytes((shipped / name).read_bytes())
        if config is not None:
            (path / "config.json").write_text(config)
        if weights is not None:
            (path / "model.safetensors").write_bytes(weights)
        return path

    return make


EXTRACT_WEIGHTS = "extract --genome {fasta} --weights {bad} -o {out}/acts.h5"


def _folder(folder: Path, good: Good) -> Path:
    (folder / "run").mkdir()
    return folder / "run"


GOODFIRE = "sae import {bad} --format goodfire-evo2 -o {out}/sae"
OTHER_CASES = {
    "goodfire-random-bytes": (
        GOODFIRE,
        _write("sae.pt", _NOISE),
        [r"not a readable PyTorch checkpoint"],
    ),
    "goodfire-truncated-checkpoint": (
        GOODFIRE,
        _truncated_checkpoint,
        [r"not a readable PyTorch checkpoint \(truncated or corrupt\)"],
    ),
    "goodfire-store-given-as-checkpoint": (
        GOODFIRE,
        _copy_of("store", "sae.pt"),
        [r"looks like an HDF5 file"],
    ),
    "goodfire-safetensors-given-as-checkpoint": (
        GOODFIRE,
        _sae_weights,
        [r"looks like a safetensors file"],
    ),
    "saelens-random-safetensors-file": (
        "sae import {bad} --format saelens -o {out}/sae",
        _write("w.safetensors", _NOISE),
        [r"is a file, not a SAELens checkpoint folder"],
    ),
    "concepts-build-bad-alias-table": (
        ANNOTATION_COMMANDS["concepts-build"].replace("{bad}", "{gff3} --aliases {bad}"),
        _write("aliases.tsv", "a\tb\tc\n"),
        [r"line 1", r"expected 2"],
    ),
    "concepts-build-store-given-as-alias-table": (
        ANNOTATION_COMMANDS["concepts-build"].replace("{bad}", "{gff3} --aliases {bad}"),
        _copy_of("store", "aliases.tsv"),
        [r"looks like an HDF5 file", r"not an alias table"],
    ),
    "concepts-build-binary-alias-table": (
        ANNOTATION_COMMANDS["concepts-build"].replace("{bad}", "{gff3} --aliases {bad}"),
        _write("aliases.tsv", _NOISE),
        [r"binary data"],
    ),
    "rank-fasta-given-as-motifs": (
        RANK + " --motifs {bad} -o {out}/rank",
        _copy_of("fasta", "m.meme"),
        [r"no MOTIF records"],
    ),
    "rank-store-given-as-alignment": (
        RANK.replace("{alignment}", "{bad}") + " -o {out}/rank",
        _copy_of("store", "alignment"),
        [r"not an alignment folder", r"looks like an HDF5 file"],
    ),
    "export-file-given-as-run": (
        "export {bad} -o {out}/tracks",
        _copy_of("fasta", "run"),
        [r"is a file, not a run folder \(it looks like a FASTA file\)"],
    ),
    "extract-fasta-given-as-weights": (
        EXTRACT_WEIGHTS,
        _copy_of("fasta", "model"),
        [r"is a file, not a model folder \(it looks like a FASTA file\)"],
    ),
    "extract-weights-bad-config": (
        EXTRACT_WEIGHTS,
        _model_dir(config="{not json"),
        [r"config.json", r"not a tiny model's config"],
    ),
    "extract-weights-random-bytes": (
        EXTRACT_WEIGHTS,
        _model_dir(weights=_NOISE),
        [r"model.safetensors", r"not a readable safetensors file"],
    ),
    "report-empty-run": ("report {bad} -o {out}/report", _folder, [r"no catalog"]),
    "view-empty-run": ("view {bad} --port 1", _folder, [r"no tracks"]),
}


@pytest.mark.parametrize(("template", "make", "phrases"), list(OTHER_CASES.values()),
                         ids=list(OTHER_CASES))  # fmt: skip
def test_other_bad_files(good, tmp_path, capsys, template, make, phrases):
    bad = make(tmp_path, good)
    out = tmp_path / "out"
    code, err = run_cli(fill(template, bad, good, out), capsys)
    assert_one_line_error(code, err, bad, phrases)
    assert_no_output(out)


# -- the real console script: exit status and the whole of stderr ---------------------------
CONSOLE = {  # the example first: it used to print a traceback
    "sae-import-random-bytes": (SAE_COMMANDS, "sae-import-saelens", SAES, "random-safetensors"),
    "gff3-as-genome": (GENOME_COMMANDS, "concepts-build", GENOMES, "gff3-given-as-genome"),
    "fasta-as-run-config": (CONFIG_COMMANDS, "run", YAML_FILES, "fasta-given-as-yaml"),
}
CONSOLE = {case: (c[n], *f[k]) for case, (c, n, f, k) in CONSOLE.items()}


@pytest.mark.parametrize(
    ("template", "make", "phrases"),
    list(CONSOLE.values()),
    ids=list(CONSOLE),
)
def test_console_script_prints_one_line_and_exits_1(good, tmp_path, template, make, phrases):
    bad = make(tmp_path, good)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "genointerp", *fill(template, bad, good, out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_one_line_error(done.returncode, done.stderr, bad, phrases)
    assert_no_output(out)
