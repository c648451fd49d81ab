"""Files written whole or not at all, and what a file's bytes hash to: one implementation of each.

An atomic write goes to a temp file in the target's own folder (same filesystem, so the rename is
atomic), the temp file is fsynced, renamed over the target, and the folder is fsynced so that the
rename itself survives a power cut. On any failure the temp file is removed. Readers (the UI, a
card rendered concurrently, a loader) see the old file or the new one, never half of either.

A model's manifest digest covers every file the model needs to predict: sha256 over the sorted
(relative path, file sha256) pairs, so changing, adding or dropping any of them changes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

# World-readable, like a file written with a plain open() under the usual umask: mkstemp creates
# 0600 files, which a web server or a teammate's user could not read.
PUBLISHED_FILE_MODE = 0o644
_CHUNK_BYTES = 1 << 20


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temp path beside ``target`` for writers that need a path (DuckDB's COPY, xgboost,
    Evidently, pandas); once the block exits cleanly the file is synced and renamed over ``target``.

    The temp name is hidden, says ``.partial`` (what cleanup and the tests look for) and ends in the
    target's suffix, because some writers (xgboost) pick the format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.partial-", suffix=target.suffix)
    os.close(descriptor)
    temp = Path(name)
    try:
        yield temp
        if not temp.is_file():
            raise FileNotFoundError(f"the writer of {target} left no file at {temp}")
        _fsync(temp)
        os.chmod(temp, PUBLISHED_FILE_MODE)
        os.replace(temp, target)
        _fsync(target.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


class ModelFilesRefused(ValueError):
    """A model's files are not the ones recorded at training; the message names the file."""


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as temp:
        temp.write_bytes(data)
    return Path(path)


def write_text_atomically(path: str | os.PathLike[str], text: str) -> Path:
    """UTF-8, newlines written as given (no platform translation)."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def copy_with_sha256(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> str:
    """Copy ``source`` to ``target`` in one read and return the sha256 of exactly the bytes copied:
    whatever happens to ``source`` meanwhile, the digest names the copy."""
    digest = hashlib.sha256()
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(_CHUNK_BYTES):
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()


def file_hashes(folder: str | os.PathLike[str], names: Iterable[str]) -> dict[str, str]:
    """sha256 of each named file (a path relative to ``folder``); a missing one is an error naming it."""
    folder = Path(folder)
    hashes = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{name} is missing from {folder}")
        hashes[name] = file_sha256(path)
    return hashes


def manifest_digest(hashes: Mapping[str, str]) -> str:
    """sha256 over the sorted (relative path, sha256) pairs: one digest for a set of files."""
    if not hashes:
        raise ValueError("a manifest needs at least one file")
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode("utf-8"))
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
