"""Where stored recordings live, behind a small interface; ``LocalStorage`` (a folder) is the default.

Writes are atomic: a temp file in the destination folder, fsync, rename over the final name, fsync the folder. A
reader never sees half a file and a crash leaves at most a ``.tmp-*`` file (swept by ``LocalStorage.sweep_temp``).
The SHA-256 and size are computed while writing, so the bytes checksummed are the bytes stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Protocol, runtime_checkable

__all__ = ["LocalStorage", "RecordingStorage", "StorageError", "StoredObject", "safe_key_part"]

COPY_CHUNK_BYTES: Final = 1024 * 1024
_SAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


class StorageError(Exception):
    """A key that is not ours to touch (outside the store)."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    size_bytes: int
    sha256: str


def safe_key_part(value: str) -> str:
    """Call ids come from Asterisk (``1795390491.0``), but a key part must never be able to climb out."""
    cleaned = _SAFE.sub("_", value).strip(".") or "_"
    return cleaned[:120]


@runtime_checkable
class RecordingStorage(Protocol):
    """Blocking calls: the service runs them in a thread. Keys are relative, '/'-separated."""

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        """Store atomically (all or nothing) and return size + SHA-256 of what was stored."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A seekable binary reader (ranges are served from it). FileNotFoundError if absent."""
        ...

    def size(self, key: str) -> int:
        ...

    def delete(self, key: str) -> bool:
        """Remove; False if it was already gone (deletion is idempotent)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A path the transcription worker can read directly, or None for remote stores."""
        ...


class LocalStorage:
    """Recordings as files under ``root`` (``<root>/<yyyy>/<mm>/<dd>/<call>/<leg>.wav``)."""

    def __init__(self, *, root: Path, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in key.split("/")):
            raise StorageError(f"bad storage key {key!r}")
        return self.root / key

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.fsync:
            self._fsync_dir(final.parent)
        return StoredObject(key=key, size_bytes=size, sha256=digest.hexdigest())

    @staticmethod
    def _fsync_dir(folder: Path) -> None:
        # The rename is durable only once the folder's entry is on disk.
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        if self.fsync:
            self._fsync_dir(path.parent)
        return True

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def sweep_temp(self) -> int:
        """Remove temp files a crash left behind; returns how many."""
        removed = 0
        for tmp in self.root.rglob(".tmp-*"):
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed


def read_range(reader: BinaryIO, *, start: int, end_inclusive: int, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
    """Bytes [start, end_inclusive] of an open reader, in chunks."""
    reader.seek(start)
    left = end_inclusive - start + 1
    while left > 0:
        data = reader.read(min(chunk_bytes, left))
        if not data:
            return
        left -= len(data)
        yield data
