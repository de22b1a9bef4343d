"""From a ``RecordingReady`` to the files to ingest (pure): spool path mapping, refusal of escaping names, legs.

File names arrive over AMI, i.e. from dialplan variables a caller may influence; a name must resolve inside the
configured spool folder or it is refused, so a crafted name can never make us copy (or delete) ``/etc/shadow``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from callcenter.recording.audiofile import is_stereo_name

__all__ = ["LegRole", "PathRefused", "PlannedFile", "plan_files", "resolve_spool_path"]

LegRole = str  # "mix" | "rx" (customer) | "tx" (agent) | "stereo" (left = customer, right = agent)


class PathRefused(Exception):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedFile:
    role: LegRole
    source: str  # as Asterisk named it


def resolve_spool_path(name: str, *, spool_dir: Path, asterisk_spool_dir: str) -> Path:
    """Map an Asterisk file name to our view of the spool, refusing anything that leaves it.

    Absolute names must lie under Asterisk's spool folder; relative names are relative to it (MixMonitor's own
    rule). The result is resolved (symlinks included) and must still be inside ``spool_dir``.
    """
    if not name or "\x00" in name:
        raise PathRefused("empty file name" if not name else "file name contains a NUL byte")
    normal = posixpath.normpath(name)
    asterisk_root = posixpath.normpath(asterisk_spool_dir)
    if normal.startswith("/"):
        if not (normal == asterisk_root or normal.startswith(asterisk_root.rstrip("/") + "/")):
            raise PathRefused(f"{name!r} is outside the spool folder {asterisk_root}")
        relative = PurePosixPath(normal).relative_to(asterisk_root)
    else:
        relative = PurePosixPath(normal)
    if any(part == ".." for part in relative.parts) or not relative.parts:
        raise PathRefused(f"{name!r} escapes the spool folder")
    root = spool_dir.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or candidate == root:
        raise PathRefused(f"{name!r} resolves outside the spool folder (symlink?)")
    return candidate


def _leg_role(name: str, position: int) -> LegRole:
    stem = PurePosixPath(name).stem.lower()
    if stem.endswith("rx") or stem.endswith("-in") or stem.endswith("_in"):
        return "rx"
    if stem.endswith("tx") or stem.endswith("-out") or stem.endswith("_out"):
        return "tx"
    # Unrecognised names: the dialplan lists r() before t() (dialplans/extensions_callcenter.conf).
    return "rx" if position == 0 else "tx"


def plan_files(path: str, leg_paths: tuple[str, ...]) -> list[PlannedFile]:
    """The main file (mix, or the 2-channel stereo file of option D) first, then the per-direction legs."""
    files = [PlannedFile(role="stereo" if is_stereo_name(path) else "mix", source=path)]
    seen = {"mix", "stereo"}
    for position, leg in enumerate(leg_paths[:2]):
        role = _leg_role(leg, position)
        if role in seen:
            role = "tx" if role == "rx" else "rx"
        seen.add(role)
        files.append(PlannedFile(role=role, source=leg))
    return files


def leg_name(role: LegRole, take: int) -> str:
    return role if take == 1 else f"{role}-{take}"
