"""Data-set manifests and the fetcher: mirror copies, checksums, offline errors."""

from __future__ import annotations

import hashlib

import pytest
import yaml

import genointerp as gi
from genointerp.errors import ChecksumError, ConfigError, DatasetError


def test_every_manifest_is_valid_and_matches_the_mirror(mirror):
    manifests = gi.datasets.list_manifests()
    assert len(manifests) >= 10
    for name in manifests:
        manifest = gi.datasets.get_manifest(name)
        for spec in manifest.files:
            source = mirror / spec.mirror_path
            assert source.is_file(), source
            assert gi.datasets.sha256_file(source) == spec.sha256, spec.name


def test_fetch_copies_from_the_mirror_and_verifies(mirror):
    manifest = gi.datasets.get_manifest("nanoarchaeum_equitans")
    spec = manifest.files[0]
    path = gi.datasets.fetch_file(manifest, spec)
    assert path.is_file() and gi.datasets.sha256_file(path) == spec.sha256
    assert gi.datasets.fetch_file(manifest, spec) == path  # cached: no second copy


def _toy_manifest(tmp_path, content: bytes, recorded: bytes):
    (tmp_path / "mirror" / "toy").mkdir(parents=True)
    (tmp_path / "mirror" / "toy" / "toy.txt").write_bytes(content)
    path = tmp_path / "toy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "toy",
                "title": "toy",
                "kind": "table",
                "licence": "CC0",
                "citation": "none",
                "files": [
                    {
                        "name": "toy.txt",
                        "mirror_path": "toy/toy.txt",
                        "format": "text",
                        "url": "https://example.org/toy.txt",
                        "sha256": hashlib.sha256(recorded).hexdigest(),
                    }
                ],
            }
        )
    )
    return gi.datasets.read_manifest(path)


def test_checksum_mismatch_names_both_checksums_and_writes_nothing(tmp_path, monkeypatch):
    manifest = _toy_manifest(tmp_path, b"tampered\n", b"original\n")
    monkeypatch.setenv("GENOINTERP_DATA_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(ChecksumError) as info:
        gi.datasets.fetch_file(manifest, manifest.files[0])
    message = str(info.value)
    assert hashlib.sha256(b"tampered\n").hexdigest() in message
    assert manifest.files[0].sha256 in message and "toy.txt" in message and "Fix:" in message
    folder = gi.datasets.cached_path(manifest, manifest.files[0]).parent
    assert list(folder.iterdir()) == []


def test_missing_mirror_offline_says_what_to_set(tmp_path, monkeypatch):
    manifest = _toy_manifest(tmp_path, b"x\n", b"x\n")
    monkeypatch.setenv("GENOINTERP_DATA_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(
        DatasetError,
        match=r"toy/toy.txt: the mirror .*nowhere.* has no "
        r"toy/toy.txt.*GENOINTERP_OFFLINE.*Fix: set GENOINTERP_DATA_MIRROR",
    ):
        gi.datasets.fetch_file(manifest, manifest.files[0])
    assert not gi.datasets.cached_path(manifest, manifest.files[0]).exists()


def test_derived_file_without_url_needs_the_mirror(mirror, monkeypatch):
    manifest = gi.datasets.get_manifest("ecoli_k12")
    spec = next(f for f in manifest.files if f.url is None)
    monkeypatch.delenv("GENOINTERP_DATA_MIRROR")
    with pytest.raises(DatasetError, match="no public URL"):
        gi.datasets.fetch_file(manifest, spec, force=True)


def test_manifest_with_unknown_key_is_rejected(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntitle: t\nkind: table\nlicence: l\ncitation: c\nfiles: []\nlicence_url: x\n"
    )
    with pytest.raises(ConfigError, match=r"bad.yaml, line 7: unknown key 'licence_url'"):
        gi.datasets.read_manifest(path)


def test_unknown_data_set_suggests_a_name():
    with pytest.raises(DatasetError, match="did you mean 'ecoli_k12'"):
        gi.datasets.load("ecoli_k13")


def test_a_recompressed_public_copy_is_accepted_by_its_sequence_checksum(tmp_path, monkeypatch):
    """NCBI serves the same sequence compressed (or wrapped) differently: accept it."""
    import gzip

    original = b">c1 one\nACGTACGTAC\n>c2\nGGGCCC\n"
    rewrapped = b">c1 other description\nACGTA\nCGTAC\n>c2\nGGGCCC\n"
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "g.fa.gz").write_bytes(gzip.compress(rewrapped))
    genome = gi.io.Genome.from_sequences({"c1": "ACGTACGTAC", "c2": "GGGCCC"})
    path = tmp_path / "g.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "g",
                "title": "g",
                "kind": "prokaryote",
                "licence": "CC0",
                "citation": "none",
                "genome": "g.fa.gz",
                "files": [
                    {
                        "name": "g.fa.gz",
                        "mirror_path": "g.fa.gz",
                        "format": "fasta",
                        "sha256": hashlib.sha256(gzip.compress(original)).hexdigest(),
                        "sequence_md5": genome.sequence_md5,
                    }
                ],
            }
        )
    )
    manifest = gi.datasets.read_manifest(path)
    monkeypatch.setenv("GENOINTERP_DATA_MIRROR", str(tmp_path / "mirror"))
    fetched = gi.datasets.fetch_file(manifest, manifest.files[0])
    assert gi.io.read_fasta(fetched).fetch("c1") == "ACGTACGTAC"
    # a changed sequence is still refused
    (tmp_path / "mirror" / "g.fa.gz").write_bytes(gzip.compress(rewrapped.replace(b"GGG", b"GGA")))
    with pytest.raises(ChecksumError):
        gi.datasets.fetch_file(manifest, manifest.files[0], force=True)
