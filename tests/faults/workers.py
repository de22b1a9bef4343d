"""`callcenter crm-worker` processes of a test's own, whose log lines a test can wait on (and kill -9 on cue)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path



class WorkerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.log_path = log_path
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, tmp_path: Path, name: str, env: Mapping[str, str]) -> WorkerProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callcenter.cli", "crm-worker", "--port", "0", cwd=tmp_path,
            env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return cls(proc, tmp_path / f"{name}.log")

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("w") as log:  # kept for reading after a failure
            async for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                log.write(line + "\n")
                self.lines.append(line)
                self._changed.set()
        self._changed.set()

    async def wait_line(self, text: str, timeout_s: float, *, where: Callable[[str], bool] = lambda _line: True) -> str:
        """The first log line containing ``text`` (and for which ``where`` holds)."""

        async def watch() -> str:
            while True:
                found = next((line for line in self.lines if text in line and where(line)), None)
                if found is not None:
                    return found
                if self.proc.returncode is not None and self._reader.done():
                    raise AssertionError(f"worker exited ({self.proc.returncode}) before {text!r}: {self.log_path}")
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(watch(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {text!r} in {self.log_path}") from None

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no lease released, whatever batch it was handing on left half done."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._reader

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self._reader
