"""A recording store that runs out of space and gets it back, for the fault suite.

The real thing where the machine allows it: a small tmpfs mounted on the store folder (root with CAP_SYS_ADMIN, as on
a developer's box or a privileged CI job), filled to the last byte by a ballast file, so every write the service makes
fails in the kernel with ENOSPC exactly as on a full disk (the temp file is created, its bytes are refused); freeing
the space deletes the ballast. Where mounting is not allowed (a non-root user, an unprivileged container), the store
keeps its folder and a full disk is the same kernel error from ``/dev/full``: while full, the store's writes go there
and fail with ENOSPC. Either way the service sees ``OSError(ENOSPC)`` from its own
``LocalStorage.put``."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from callcenter.recording.storage import LocalStorage, StoredObject

TMPFS_SIZE = "2m"
_CHUNK_BYTES = 64 * 1024


class _DevFullStorage(LocalStorage):
    """LocalStorage whose writes, while ``full``, go to /dev/full (the kernel answers ENOSPC, as a full disk)."""

    full = False

    def put(self, key: str, chunks: Iterable[bytes]) -> StoredObject:
        if not self.full:
            return super().put(key, chunks)
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with open("/dev/full", "wb", buffering=0) as out:
            for chunk in chunks:
                out.write(chunk)
        raise AssertionError("/dev/full accepted a write")  # pragma: no cover - the kernel refuses it


class FullDisk:
    """The store folder ``root``; ``storage`` is what the service must use (install it on the RecordingService)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounted = False
        self.storage: LocalStorage = LocalStorage(root=root)
        self._ballast = root / ".ballast"

    def fill(self) -> None:
        if not self.mounted:
            assert isinstance(self.storage, _DevFullStorage)
            self.storage.full = True
            return
        block = b"\0" * _CHUNK_BYTES
        with self._ballast.open("ab", buffering=0) as out:
            try:
                while True:
                    out.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            # Whatever is left is smaller than a block: take it byte-sized so not a page is free.
            for size in (4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        out.write(b"\0" * size)
        assert os.statvfs(self.root).f_bavail == 0

    def free(self) -> None:
        if not self.mounted:
            assert isinstance(self.storage, _DevFullStorage)
            self.storage.full = False
            return
        self._ballast.unlink()


def _try_mount(root: Path) -> bool:
    if os.geteuid() != 0:
        return False
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", str(root)],
                              capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):  # no mount(8) in a slim image
        return False
    return done.returncode == 0


@contextlib.contextmanager
def full_disk(root: Path) -> Iterator[FullDisk]:
    """A store folder at ``root`` that ``fill`` makes full and ``free`` frees (a tmpfs if it can be mounted)."""
    root.mkdir(parents=True, exist_ok=True)
    disk = FullDisk(root)
    disk.mounted = _try_mount(root)
    if not disk.mounted:
        disk.storage = _DevFullStorage(root=root)
    try:
        yield disk
    finally:
        if disk.mounted:
            subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
