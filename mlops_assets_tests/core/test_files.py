"""The one atomic write, file hash and manifest digest."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from mlops_assets.core import files


def test_atomic_write_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "card.md"
    files.write_text_atomically(target, "old\n")
    files.write_text_atomically(target, "new\nline ü\n")
    assert target.read_bytes() == "new\nline ü\n".encode("utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["card.md"]
    assert stat.S_IMODE(target.stat().st_mode) == files.PUBLISHED_FILE_MODE


def test_atomic_write_syncs_file_and_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    synced, order = [], []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        order.append("fsync")
        real_fsync(descriptor)

    def replace(source, target):
        order.append("replace")
        real_replace(source, target)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    files.write_bytes_atomically(tmp_path / "model.json", b"{}")
    assert order == ["fsync", "replace", "fsync"]
    assert ".partial" in synced[0] and synced[1] == str(tmp_path)


def test_a_failed_writer_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer broke"):
        with files.atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("writer broke")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_the_temp_path_keeps_the_suffix_writers_pick_formats_from(tmp_path):
    with files.atomic_path(tmp_path / "model.json") as temp:
        assert temp.parent == tmp_path and temp.name.endswith(".json") and ".partial" in temp.name
        temp.write_text("{}")


def test_a_writer_that_writes_nothing_is_an_error_naming_the_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="report.html"):
        with files.atomic_path(tmp_path / "report.html") as temp:
            temp.unlink()
    assert list(tmp_path.iterdir()) == []


def test_file_sha256_reads_in_chunks_and_matches_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "big").write_bytes(data)
    assert files.file_sha256(tmp_path / "big") == hashlib.sha256(data).hexdigest()


def test_copy_with_sha256_hashes_the_copied_bytes(tmp_path):
    data = os.urandom((1 << 20) + 5)
    (tmp_path / "source").write_bytes(data)
    digest = files.copy_with_sha256(tmp_path / "source", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest()


def test_manifest_digest_covers_every_file_and_its_name(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    (tmp_path / "feature_encoding.json").write_text('{"a": 1}')
    hashes = files.file_hashes(tmp_path, ["model.json", "feature_encoding.json"])
    digest = files.manifest_digest(hashes)
    assert digest == files.manifest_digest(dict(reversed(list(hashes.items()))))  # order-free
    assert digest != files.manifest_digest({**hashes, "feature_encoding.json": "0" * 64})
    assert digest != files.manifest_digest({"model.json": hashes["model.json"]})
    assert digest != files.manifest_digest({"renamed.json" if k == "model.json" else k: v for k, v in hashes.items()})
    with pytest.raises(FileNotFoundError, match="smoke_sample.parquet"):
        files.file_hashes(tmp_path, ["model.json", "smoke_sample.parquet"])
    with pytest.raises(ValueError, match="at least one file"):
        files.manifest_digest({})
