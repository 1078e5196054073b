"""Safety: checkpoints are never unpickled, remote code never runs by default, downloads are
verified.

A pickled checkpoint carries a payload that would create a marker file if it ran; every test
checks the marker is still absent and that the error says the file was refused for safety
without passing on torch's advice to load it with ``weights_only=False``.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import os
import pickle
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch
import yaml

import genointerp as gi
from genointerp.cli import build_parser, main
from genointerp.errors import ChecksumError, UnsafeCheckpointError
from tests.conftest import REPO


class _Payload:
    """Unpickling this runs ``os.system``: it creates ``marker`` if the pickle is ever loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _pickled_sae(path: Path, marker: Path) -> Path:
    """A Goodfire-style state dict (torch.save) with one object that is not a tensor."""
    state = {"W": torch.zeros(4, 8), "b_enc": torch.zeros(8), "b_dec": torch.zeros(4)}
    torch.save(state | {"extra": _Payload(marker)}, path)
    return path


def _assert_refused(message: str, path: Path, marker: Path) -> None:
    assert "refused for safety" in message, message
    assert str(path) in message and "Fix:" in message, message
    assert "weights_only" not in message and "Traceback" not in message, message
    assert not marker.exists(), "the pickle was loaded: its payload ran"


def test_pickled_checkpoint_is_refused_with_one_line_on_the_command_line(tmp_path):
    """Through the real console script: exit 1, one line, torch's advice never shown."""
    marker = tmp_path / "payload-ran"
    checkpoint = _pickled_sae(tmp_path / "sae.pt", marker)
    out = tmp_path / "imported"
    done = subprocess.run(
        [sys.executable, "-m", "genointerp", "sae", "import", str(checkpoint)]
        + ["--format", "goodfire-evo2", "-o", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    _assert_refused(lines[0], checkpoint, marker)
    assert not out.exists()


def test_plain_pickle_is_refused(tmp_path, capsys):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "sae.pkl"
    path.write_bytes(pickle.dumps({"W": _Payload(marker)}, protocol=4))
    code = main(
        ["sae", "import", str(path), "--format", "goodfire-evo2", "-o", str(tmp_path / "o")]
    )
    assert code == 1
    _assert_refused(capsys.readouterr().err.strip(), path, marker)


def test_python_api_refuses_pickles_too(tmp_path):
    marker = tmp_path / "payload-ran"
    checkpoint = _pickled_sae(tmp_path / "sae.pt", marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        gi.sae.import_sae("goodfire-evo2", checkpoint)
    _assert_refused(str(info.value), checkpoint, marker)


def test_training_checkpoints_are_loaded_weights_only(tmp_path):
    """A resumed SAE training run reads its checkpoint through the same refusal."""
    from genointerp._weights import load_torch_file

    marker = tmp_path / "payload-ran"
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"config": {}, "step": 3, "extra": _Payload(marker)}, checkpoint)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_torch_file(checkpoint, "delete it to start over")
    _assert_refused(str(info.value), checkpoint, marker)


def _torch_load_calls() -> list[tuple[str, int, ast.Call]]:
    calls = []
    for path in sorted((REPO / "genointerp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            func = getattr(node, "func", None)
            is_load = isinstance(func, ast.Attribute) and func.attr == "load"
            if is_load and isinstance(func.value, ast.Name) and func.value.id == "torch":
                calls.append((str(path.relative_to(REPO)), node.lineno, node))
    return calls


def test_torch_load_is_called_in_one_place_only_and_weights_only():
    """Every checkpoint goes through genointerp/_weights.py, which never unpickles objects."""
    calls = _torch_load_calls()
    assert [where for where, _, _ in calls] == ["genointerp/_weights.py"], calls
    for _, _, call in calls:
        flags = {k.arg: k.value for k in call.keywords}
        assert isinstance(flags.get("weights_only"), ast.Constant), "weights_only must be literal"
        assert flags["weights_only"].value is True
    source = "".join(p.read_text() for p in (REPO / "genointerp").rglob("*.py"))
    for unpickler in ("pickle.load", "allow_pickle=True", "read_pickle", "weights_only=False"):
        assert unpickler not in source, unpickler


def _tiny_hf_dir(directory: Path) -> Path:
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {t: i for i, t in enumerate(["<pad>", "<bos>", "<eos>", "<unk>", *"ACGTN"])}
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )
    config = transformers.GPT2Config(
        vocab_size=len(vocab), n_embd=16, n_layer=1, n_head=2, n_positions=32,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_hf_weights_with_pickled_objects_are_refused(tmp_path):
    """A ``pytorch_model.bin`` carrying code: refused by our message, not torch's."""
    directory = _tiny_hf_dir(tmp_path / "model")
    marker = tmp_path / "payload-ran"
    from safetensors.torch import load_file

    state = load_file(str(directory / "model.safetensors"))
    (directory / "model.safetensors").unlink()
    torch.save(state | {"extra": _Payload(marker)}, directory / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError) as info:
        gi.models.load_model("hf", str(directory))
    _assert_refused(str(info.value), directory, marker)


def test_trust_remote_code_is_off_by_default():
    from genointerp.models._hf import load_hf

    assert inspect.signature(load_hf).parameters["trust_remote_code"].default is False
    args = build_parser().parse_args(["extract", "--genome", "g.fa", "--model", "hf", "-o", "x"])
    assert args.trust_remote_code is False
    # no config of a run switches it on unless the user writes it
    pending = [gi.pipeline.PipelineConfig]
    while pending:
        cls = pending.pop()
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if "remote_code" in field.name:
                assert field.default is False, f"{cls.__name__}.{field.name}"
            kinds = [hints[field.name], *typing.get_args(hints[field.name])]
            pending += [k for k in kinds if dataclasses.is_dataclass(k)]


def test_remote_code_shipped_with_a_model_does_not_run(tmp_path):
    """A model folder whose config points at its own Python module: refused, never imported."""
    pytest.importorskip("transformers")
    marker = tmp_path / "code-ran"
    (tmp_path / "modeling_dna.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "configuration_dna.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = {
        "model_type": "dna-custom",
        "architectures": ["DnaForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_dna.DnaConfig",
            "AutoModelForCausalLM": "modeling_dna.DnaForCausalLM",
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(gi.errors.GenointerpError, match="ships its own Python code"):
        gi.models.load_model("hf", str(tmp_path))
    assert not marker.exists()


# -- downloads are verified -----------------------------------------------------------------
def _toy_manifest(folder: Path, recorded: bytes) -> gi.datasets.Manifest:
    path = folder / "toy.yaml"
    spec = {
        "name": "toy.fa",
        "mirror_path": "toy/toy.fa",
        "format": "fasta",
        "url": "https://example.org/toy.fa",
        "sha256": hashlib.sha256(recorded).hexdigest(),
    }
    manifest = {"name": "toy", "title": "toy", "kind": "table", "licence": "CC0"}
    path.write_text(yaml.safe_dump(manifest | {"citation": "none", "files": [spec]}))
    return gi.datasets.read_manifest(path)


def test_fetch_with_a_wrong_checksum_fails_and_leaves_no_file(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.fa").write_bytes(b">a\nACGTTT\n")  # the mirror copy was altered
    manifest = _toy_manifest(tmp_path, b">a\nACGT\n")
    monkeypatch.setenv("GENOINTERP_DATA_MIRROR", str(mirror))
    with pytest.raises(ChecksumError) as info:
        gi.datasets.fetch_file(manifest, manifest.files[0])
    message = str(info.value)
    assert "sha256" in message and manifest.files[0].sha256 in message and "Fix:" in message
    cached = gi.datasets.cached_path(manifest, manifest.files[0])
    assert not cached.exists()
    assert not list(cached.parent.iterdir())  # no temporary or marker file either
    # a later fetch from a good mirror works, and verifies again
    (mirror / "toy" / "toy.fa").write_bytes(b">a\nACGT\n")
    assert gi.datasets.fetch_file(manifest, manifest.files[0]).read_bytes() == b">a\nACGT\n"


def test_a_cached_file_changed_afterwards_is_not_trusted(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.fa").write_bytes(b">a\nACGT\n")
    manifest = _toy_manifest(tmp_path, b">a\nACGT\n")
    monkeypatch.setenv("GENOINTERP_DATA_MIRROR", str(mirror))
    cached = gi.datasets.fetch_file(manifest, manifest.files[0])
    cached.write_bytes(b">a\nTTTTTT\n")  # corrupted in the cache
    (mirror / "toy" / "toy.fa").write_bytes(b">a\nGGGG\n")  # and the mirror is wrong too
    with pytest.raises(ChecksumError):
        gi.datasets.fetch_file(manifest, manifest.files[0])
    assert not list(cached.parent.iterdir())  # the unverified copy is gone


def test_a_download_with_a_wrong_checksum_leaves_no_file(tmp_path, monkeypatch):
    """The URL path (here a local file:// URL: nothing leaves the machine) is verified too."""
    source = tmp_path / "served.fa"
    source.write_bytes(b">a\nACGTTT\n")
    manifest = _toy_manifest(tmp_path, b">a\nACGT\n")
    manifest.files[0].url = source.as_uri()
    monkeypatch.delenv("GENOINTERP_DATA_MIRROR", raising=False)
    monkeypatch.delenv("GENOINTERP_OFFLINE", raising=False)
    with pytest.raises(ChecksumError, match=r"toy.fa from file://.*sha256"):
        gi.datasets.fetch_file(manifest, manifest.files[0])
    assert not list(gi.datasets.cached_path(manifest, manifest.files[0]).parent.iterdir())
