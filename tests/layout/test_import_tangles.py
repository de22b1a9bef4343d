"""The layering the code keeps (issue 16), read from the source with ``ast`` so a tangle fails here, not in review.

* callcenter/pbxsim is an Asterisk stand-in: it speaks AMI and FastAGI only. It imports the standard library,
  third-party packages, itself, and a short list of pure shared modules (names shared with the dialplans, audio
  decoding, a waiting helper); never crm_core, the composition root, the CRM bridge, the demo or any feature module.
* The composition root (callcenter.app) imports the API modules; they, the desk-phone wiring and every other module
  take the app keys from callcenter.app_keys. Only the entry points that build the app (cli.py, the demo) import
  callcenter.app, at module top or inside a function.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "callcenter"

# What pbxsim may use of ours outside itself: each module here imports only the standard library and numpy.
PBXSIM_MAY_IMPORT = frozenset({
    "callcenter.ami.channel_vars",  # names shared with the dialplans, defined once
    "callcenter.recording.audio",  # WAV/G.711 decoding of the sample voices
    "callcenter.recording.audiofile",
    "callcenter.waiting",  # wait_set: an asyncio.Event wait with a limit
})
# Entry points that build the whole app; nothing else may import the composition root.
MAY_IMPORT_APP = ("cli.py", "demo/")


def imports_in(source: str, filename: str = "<source>") -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import, at any depth (inside functions and TYPE_CHECKING blocks too);
    ``from pkg import name`` yields ``pkg`` and ``pkg.name``, so a submodule imported that way is seen."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{filename}:{node.lineno}: relative import (the code uses absolute)"
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def modules_under(folder: Path) -> list[Path]:
    found = sorted(folder.rglob("*.py"))
    assert found, f"no modules under {folder}"
    return found


def _is(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def pbxsim_may(name: str) -> bool:
    if name.split(".")[0] not in ("callcenter", "crm_core"):
        return True  # standard library or third-party
    return _is(name, "callcenter.pbxsim") or any(_is(name, allowed) for allowed in PBXSIM_MAY_IMPORT)


def tangles(paths: list[Path], forbidden: Callable[[str], bool]) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
            for path in paths for line, name in imports_in(path.read_text(), str(path)) if forbidden(name)]


def test_the_simulator_imports_nothing_of_the_crm_or_the_service() -> None:
    found = tangles(modules_under(PACKAGE / "pbxsim"), lambda name: not pbxsim_may(name))
    assert found == [], "callcenter/pbxsim speaks AMI and FastAGI only:\n" + "\n".join(found)


def test_only_the_entry_points_import_the_composition_root() -> None:
    paths = [p for p in modules_under(PACKAGE) if p.name != "app.py" or p.parent != PACKAGE]
    paths = [p for p in paths if not p.relative_to(PACKAGE).as_posix().startswith(MAY_IMPORT_APP)]
    assert PACKAGE / "api" / "call_routes.py" in paths and PACKAGE / "pbxsim" / "embedded.py" in paths
    found = tangles(paths, lambda name: _is(name, "callcenter.app"))
    assert found == [], "take app keys from callcenter.app_keys:\n" + "\n".join(found)


def test_the_app_keys_lean_on_neither_the_root_nor_the_api() -> None:
    found = tangles([PACKAGE / "app_keys.py"], lambda name: _is(name, "callcenter.app") or _is(name, "callcenter.api"))
    assert found == []


def test_the_guard_sees_imports_inside_functions_and_tells_allowed_from_forbidden() -> None:
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from crm_core.db import Database\n"
              "def f():\n    from callcenter import app\n    import callcenter.crm_bridge\n")
    seen = list(imports_in(source))
    assert {(3, "crm_core.db"), (5, "callcenter.app"), (6, "callcenter.crm_bridge")} <= set(seen)
    assert [name for _, name in seen if not pbxsim_may(name)] == [
        "crm_core.db", "crm_core.db.Database", "callcenter", "callcenter.app", "callcenter.crm_bridge"]
    assert not pbxsim_may("callcenter.demo.run") and not pbxsim_may("callcenter.recording.worker")
    assert not pbxsim_may("callcenter.app_keys")  # the keys are the service's too
    assert pbxsim_may("callcenter.ami.channel_vars.ChannelVar") and pbxsim_may("numpy") and pbxsim_may("asyncio")
    assert _is("callcenter.app.build_app", "callcenter.app") and not _is("callcenter.app_keys", "callcenter.app")
